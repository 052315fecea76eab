package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmnet/wasmnet/abi"
)

// moduleStore holds the modules an agent has compiled, addressed by the
// hex sha256 of their bytes. A module is compiled once per agent; with a
// disk cache, once per machine.
type moduleStore struct {
	runtimes *runtimes
	cacheDir string // "" without a disk cache
	maxImage uint64 // the largest initial memory to keep an image of

	// compileMu serialises compilations, so that counting the files the
	// disk cache gains tells a real compilation from a cache load.
	compileMu sync.Mutex

	mu   sync.Mutex
	mods map[string]*storedModule

	compilations  atomic.Int64
	cacheLoads    atomic.Int64
	uploads       atomic.Int64
	uploadedBytes atomic.Int64
	diskLoads     atomic.Int64 // modules read from disk instead of uploaded
}

type storedModule struct {
	bytes []byte // kept to compile for the other runtime kind when asked
	// compiled holds the module's code per runtime kind; the moduleStore's
	// mu guards it.
	compiled [2]wazero.CompiledModule
	err      error        // why the module cannot run; kept so it is not uploaded again
	image    *moduleImage // nil: the module starts without an image
}

func (s *moduleStore) get(sum string) *storedModule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mods[sum]
}

func (s *moduleStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mods)
}

// add compiles and stores an uploaded module. A module that is not
// WebAssembly, or that imports what the agent lacks, is stored with its
// error, which is also returned.
func (s *moduleStore) add(ctx context.Context, sum string, b []byte) error {
	return s.addFrom(ctx, sum, b, true)
}

// addFrom is add for bytes uploaded by a client or read from disk.
func (s *moduleStore) addFrom(ctx context.Context, sum string, b []byte, uploaded bool) error {
	got := sha256.Sum256(b)
	if hex.EncodeToString(got[:]) != sum {
		return fmt.Errorf("module upload: the bytes hash to %x, not %s", got[:8], short(sum))
	}
	if uploaded {
		s.uploads.Add(1)
		s.uploadedBytes.Add(int64(len(b)))
	}
	if m := s.get(sum); m != nil {
		return m.err
	}
	// Compiled at once, so that a module that cannot run is refused at
	// upload, for the runtime most executions use.
	code, image := newModuleImage(b, s.maxImage)
	stored := &storedModule{bytes: code, image: image}
	compiled, err := s.compile(ctx, code, unlimited)
	if err == nil {
		err = checkImports(compiled)
	}
	if err != nil {
		stored.err = fmt.Errorf("module %s: %w", short(sum), err)
	}
	stored.compiled[unlimited] = compiled
	if stored.err == nil && uploaded {
		s.keep(sum, b)
	}
	s.mu.Lock()
	s.mods[sum] = stored
	s.mu.Unlock()
	return stored.err
}

// compiledFor returns m's code for a runtime kind, compiling it the first
// time that kind is asked for.
func (s *moduleStore) compiledFor(ctx context.Context, m *storedModule, kind runtimeKind) (wazero.CompiledModule, error) {
	s.mu.Lock()
	c := m.compiled[kind]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := s.compile(ctx, m.bytes, kind)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.compiled[kind] == nil {
		m.compiled[kind] = c
	}
	return m.compiled[kind], nil
}

func (s *moduleStore) compile(ctx context.Context, b []byte, kind runtimeKind) (wazero.CompiledModule, error) {
	if len(b) < 4 || string(b[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly module (no \\0asm header)")
	}
	rt, err := s.runtimes.get(ctx, kind)
	if err != nil {
		return nil, err
	}
	s.compileMu.Lock()
	defer s.compileMu.Unlock()
	before := countFiles(s.cacheDir)
	compiled, err := rt.CompileModule(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("invalid WebAssembly: %w", err)
	}
	if s.cacheDir != "" && countFiles(s.cacheDir) == before {
		s.cacheLoads.Add(1)
	} else {
		s.compilations.Add(1)
	}
	return compiled, nil
}

func countFiles(dir string) int {
	if dir == "" {
		return 0
	}
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == filepath.Join(dir, modulesDir) {
			return fs.SkipDir // module bytes, not machine code
		}
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// checkImports refuses a module whose imports the agent cannot satisfy,
// with a message naming the import, before anything runs.
func checkImports(m wazero.CompiledModule) error {
	for _, f := range m.ImportedFunctions() {
		module, name, _ := f.Import()
		switch module {
		case "wasi_snapshot_preview1":
			continue
		case abi.ModuleName:
		default:
			return fmt.Errorf("imports %s.%s: the agent provides only modules %s and wasi_snapshot_preview1",
				module, name, abi.ModuleName)
		}
		want, ok := abi.Lookup(name)
		if v, marker := strings.CutPrefix(name, abi.VersionMarkerPrefix); !ok && marker && isDigits(v) {
			return fmt.Errorf("guest built for wasmnet ABI v%s; this agent implements ABI v%d", v, abi.Version)
		}
		if !ok {
			return fmt.Errorf("imports %s.%s, which wasmnet ABI v%d lacks", module, name, abi.Version)
		}
		if !sameTypes(f.ParamTypes(), want.Params) || !sameTypes(f.ResultTypes(), want.Results) {
			return fmt.Errorf("imports %s.%s with signature %s, want %s", module, name,
				signature(f.ParamTypes(), f.ResultTypes()), abiSignature(want))
		}
	}
	return nil
}

func sameTypes(got []api.ValueType, want []abi.ValueType) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if byte(got[i]) != byte(want[i]) {
			return false
		}
	}
	return true
}

func signature(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return name(params) + " -> " + name(results)
}

func abiSignature(f abi.Function) string {
	conv := func(ts []abi.ValueType) []api.ValueType {
		out := make([]api.ValueType, len(ts))
		for i, t := range ts {
			out[i] = api.ValueType(t)
		}
		return out
	}
	return signature(conv(f.Params), conv(f.Results))
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
