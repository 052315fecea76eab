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
	"github.com/wasmnet/wasmnet/host/internal/instrument"
)

// moduleStore holds the modules an agent has compiled, addressed by the
// hex sha256 of their bytes. A module is compiled once per agent; with a
// disk cache, once per machine.
type moduleStore struct {
	rt       wazero.Runtime
	stop     StopMechanism
	cacheDir string // "" without a disk cache

	// compileMu serialises compilations, so that counting the files the
	// disk cache gains tells a real compilation from a cache load.
	compileMu sync.Mutex

	mu   sync.Mutex
	mods map[string]*storedModule

	compilations  atomic.Int64
	cacheLoads    atomic.Int64
	uploads       atomic.Int64
	uploadedBytes atomic.Int64
}

type storedModule struct {
	compiled wazero.CompiledModule
	err      error // why the module cannot run; kept so it is not uploaded again
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
	got := sha256.Sum256(b)
	if hex.EncodeToString(got[:]) != sum {
		return fmt.Errorf("module upload: the bytes hash to %x, not %s", got[:8], short(sum))
	}
	s.uploads.Add(1)
	s.uploadedBytes.Add(int64(len(b)))
	if m := s.get(sum); m != nil {
		return m.err
	}
	// Compiled at once, so that a module that cannot run is refused at
	// upload.
	stored := &storedModule{}
	compiled, err := s.compile(ctx, b)
	if err == nil {
		err = checkImports(compiled)
	}
	if err != nil {
		stored.err = fmt.Errorf("module %s: %w", short(sum), err)
	}
	stored.compiled = compiled
	s.mu.Lock()
	s.mods[sum] = stored
	s.mu.Unlock()
	return stored.err
}

func (s *moduleStore) compile(ctx context.Context, b []byte) (wazero.CompiledModule, error) {
	if len(b) < 4 || string(b[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly module (no \\0asm header)")
	}
	b, err := prepare(b, s.stop)
	if err != nil {
		return nil, fmt.Errorf("invalid WebAssembly: %w", err)
	}
	s.compileMu.Lock()
	defer s.compileMu.Unlock()
	before := countFiles(s.cacheDir)
	compiled, err := s.rt.CompileModule(ctx, b)
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
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
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
		case "wasi_snapshot_preview1", instrument.ImportModule:
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
