package host

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
// disk cache, once per machine. Both are bounded in bytes: the modules
// least recently used go first (RATIONALE.md, "Why are module stores
// bounded by bytes?").
type moduleStore struct {
	runtimes *runtimes
	cacheDir string // "" without a disk cache
	maxImage uint64 // the largest initial memory to keep an image of
	limit    int64  // bytes of modules kept in memory; 0 for no bound

	// compileMu serialises compilations, so that the files the disk cache
	// gains tell a real compilation from a cache load, and which file
	// holds a module's code.
	compileMu sync.Mutex
	disk      *diskCache // nil without a disk cache

	mu    sync.Mutex
	mods  map[string]*storedModule
	lru   list.List // of *storedModule, most recently used first
	bytes int64     // sum of the size of mods

	compilations  atomic.Int64
	cacheLoads    atomic.Int64
	uploads       atomic.Int64
	uploadedBytes atomic.Int64
	diskLoads     atomic.Int64 // modules read from disk instead of uploaded
	evictions     atomic.Int64
}

type storedModule struct {
	sum   string
	bytes []byte // kept to compile for the other runtime kind when asked
	// compiled holds the module's code per runtime kind; the moduleStore's
	// mu guards it, and size, refs, evicted and elem.
	compiled [2]wazero.CompiledModule
	err      error        // why the module cannot run; kept so it is not uploaded again
	image    *moduleImage // nil: the module starts without an image
	size     int64        // what it is counted for against the store's limit
	refs     int          // executions starting or running with it
	evicted  bool         // out of the store: closed when refs falls to 0
	elem     *list.Element
	kept     []*instance // instances reset for the next executions (instance.go)
}

// compiledFactor estimates the memory of a module's compiled code from the
// size of its bytes: wazero's compiler makes about 3.7 bytes of machine
// code and metadata per byte of a Go guest on amd64 (its cache files).
const compiledFactor = 4

func newModuleStore(rts *runtimes, cacheDir string, cfg Config) *moduleStore {
	s := &moduleStore{runtimes: rts, cacheDir: cacheDir, limit: cfg.storeLimit, maxImage: cfg.maxMemoryLimit, mods: map[string]*storedModule{}}
	if cacheDir != "" {
		s.disk = &diskCache{dir: cacheDir, limit: cfg.cacheLimit}
	}
	return s
}

// acquire returns the module sum, marked in use until release, or nil.
func (s *moduleStore) acquire(sum string) *storedModule {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mods[sum]
	if m != nil {
		m.refs++
		s.lru.MoveToFront(m.elem)
	}
	return m
}

// release ends a use that acquire began.
func (s *moduleStore) release(m *storedModule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.refs--
	if m.refs == 0 && m.evicted {
		m.closeLocked()
	}
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
	if m := s.acquire(sum); m != nil {
		s.release(m)
		return m.err
	}
	// Compiled at once, so that a module that cannot run is refused at
	// upload, for the runtime most executions use.
	code, image := newModuleImage(b, s.maxImage)
	stored := &storedModule{sum: sum, bytes: code, image: image}
	compiled, err := s.compile(ctx, sum, code, unlimited)
	if err == nil {
		err = checkImports(compiled)
	}
	if err != nil {
		if compiled != nil {
			compiled.Close(context.Background())
			compiled = nil
		}
		// Only the error is kept: a module that cannot run needs no bytes.
		stored.err = fmt.Errorf("module %s: %w", short(sum), err)
		stored.bytes = nil
	}
	stored.compiled[unlimited] = compiled
	if stored.err == nil && uploaded {
		s.keep(sum, b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.mods[sum]; old != nil {
		// Uploaded twice at once: keep the first.
		stored.closeLocked()
		return old.err
	}
	stored.size = stored.weight()
	s.mods[sum] = stored
	stored.elem = s.lru.PushFront(stored)
	s.bytes += stored.size
	s.evictLocked()
	return stored.err
}

// weight is what m counts for against the store's limit: its bytes and
// the code compiled for each runtime kind, or, for a module kept only for
// its error, that error.
func (m *storedModule) weight() int64 {
	n := int64(256+len(m.bytes)) + m.image.weight()
	if m.err != nil {
		n += int64(len(m.err.Error()))
	}
	for _, c := range m.compiled {
		if c != nil {
			n += compiledFactor * int64(len(m.bytes))
		}
	}
	return n
}

// evictLocked drops the modules used least recently until the store fits
// its limit. A module in use stays until its executions end, so the store
// may exceed its limit by the modules running at once.
func (s *moduleStore) evictLocked() {
	if s.limit <= 0 {
		return
	}
	for e := s.lru.Back(); e != nil && s.bytes > s.limit; {
		m := e.Value.(*storedModule)
		prev := e.Prev()
		s.lru.Remove(e)
		delete(s.mods, m.sum)
		s.bytes -= m.size
		m.evicted = true
		if m.refs == 0 {
			m.closeLocked()
		}
		s.evictions.Add(1)
		e = prev
	}
}

// releaseKept unmaps the memories the modules' images keep for their next
// executions.
func (s *moduleStore) releaseKept() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mods {
		m.closeKeptLocked()
		m.image.releaseKept()
	}
}

func (m *storedModule) closeLocked() {
	m.closeKeptLocked()
	m.image.close()
	for i, c := range m.compiled {
		if c != nil {
			c.Close(context.Background())
			m.compiled[i] = nil
		}
	}
	m.bytes = nil
}

// compiledFor returns m's code for a runtime kind, compiling it the first
// time that kind is asked for. m must be acquired.
func (s *moduleStore) compiledFor(ctx context.Context, m *storedModule, kind runtimeKind) (wazero.CompiledModule, error) {
	s.mu.Lock()
	c := m.compiled[kind]
	b := m.bytes
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := s.compile(ctx, m.sum, b, kind)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.compiled[kind] != nil {
		c.Close(context.Background())
		return m.compiled[kind], nil
	}
	m.compiled[kind] = c
	if !m.evicted {
		grown := m.weight()
		s.bytes += grown - m.size
		m.size = grown
		// m is in use, so this evicts others only.
		s.evictLocked()
	}
	return c, nil
}

func (s *moduleStore) compile(ctx context.Context, sum string, b []byte, kind runtimeKind) (wazero.CompiledModule, error) {
	if len(b) < 4 || string(b[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly module (no \\0asm header)")
	}
	rt, err := s.runtimes.get(ctx, kind)
	if err != nil {
		return nil, err
	}
	if b, err = prepare(b, s.runtimes.stop); err != nil {
		return nil, fmt.Errorf("invalid WebAssembly: %w", err)
	}
	s.compileMu.Lock()
	defer s.compileMu.Unlock()
	var before map[string]bool
	if s.disk != nil {
		before = s.disk.files()
	}
	compiled, err := rt.CompileModule(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("invalid WebAssembly: %w", err)
	}
	if s.disk == nil {
		s.compilations.Add(1)
		return compiled, nil
	}
	if s.disk.compiled(sum, kind, before) {
		s.compilations.Add(1)
	} else {
		s.cacheLoads.Add(1)
	}
	return compiled, nil
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
