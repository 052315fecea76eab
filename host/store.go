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
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmnet/wasmnet/abi"
	"github.com/wasmnet/wasmnet/host/internal/instrument"
	"github.com/wasmnet/wasmnet/host/internal/outline"
)

// moduleStore holds the modules an agent has compiled, addressed by the
// hex sha256 of their bytes. A module is compiled once per agent; with a
// disk cache, once per machine. Both are bounded in bytes: the modules
// least recently used go first (RATIONALE.md, "Why are module stores
// bounded by bytes?").
type moduleStore struct {
	runtimes *runtimes
	cacheDir string // "" without a disk cache
	identity string // of this agent's prepared modules; "" for none (prepared.go)
	maxImage uint64 // the largest initial memory to keep an image of
	// snapLimit is the memory limit under which reactors' snapshots are
	// taken and used: the default, so that no client's choice shapes
	// the state another's executions start from.
	snapLimit uint64
	limit     int64 // bytes of modules kept in memory; 0 for no bound
	outlines  bool  // load code through outlines where possible (outline.go)

	// compileMu serialises compilations, so that the files the disk cache
	// gains tell a real compilation from a cache load, and which file
	// holds a module's code. An upload waits for it only as long as its
	// request lasts, and tenants take turns at it (turnlock.go).
	compileMu turnLock
	disk      *diskCache // nil without a disk cache
	// wazeroDir is the folder of the disk cache that this process's
	// wazero writes, "" until codeFile needs it; compileMu guards it.
	wazeroDir string
	// swapMu makes one swapOutlines at a time.
	swapMu sync.Mutex

	mu   sync.Mutex
	mods map[string]*storedModule
	// loading has a channel for each module a tenant is compiling into
	// the store, closed when that ends: the tenant's connections that
	// ask for it at once (the gateways of a shared agent starting
	// together) wait for one compilation instead of making one each.
	// Keyed by tenant as well, so that no tenant waits for another's
	// compilation, which may be far back in the compile lock's queue of
	// that tenant (turnlock.go), or learns from the wait what another
	// compiles.
	loading map[loadKey]chan struct{}
	lru     list.List // of *storedModule, most recently used first
	bytes   int64     // sum of the size of mods

	compilations  atomic.Int64
	cacheLoads    atomic.Int64
	outlineLoads  atomic.Int64 // cache loads through an outline (outline.go)
	outlineSwaps  atomic.Int64 // modules compiled in full, swapped at idle (outline.go)
	uploads       atomic.Int64
	uploadedBytes atomic.Int64
	diskLoads     atomic.Int64 // modules read from disk instead of uploaded
	evictions     atomic.Int64
}

type storedModule struct {
	sum string
	// codeLen is the size of the code compiled, which is not kept: there
	// is one runtime kind (runtimes.go), compiled when the module is
	// stored.
	codeLen int
	// release gives back the memory the code was read into, once the
	// module is closed; nil when the code was in the heap.
	release func()
	// compiled holds the module's code per runtime kind; the moduleStore's
	// mu guards it, and size, refs, evicted and elem.
	compiled [2]wazero.CompiledModule
	// code is where compiled[unlimited]'s machine code is mapped from a
	// shared code file, if it is (sharedcode_linux.go); the zero region
	// if not. mu guards it.
	code codeRegion
	// compact is set when compiled holds what the module keeps while the
	// agent idles: its outline's compilation, or its own when it has no
	// outline (outline.go, swapOutlines).
	compact  bool
	err      error        // why the module cannot run; kept so it is not uploaded again
	image    *moduleImage // nil: the module starts without an image
	size     int64        // what it is counted for against the store's limit
	refs     int          // executions starting or running with it
	evicted  bool         // out of the store: closed when refs falls to 0
	snapKept bool         // the image's snapshot is on disk, or never will be
	elem     *list.Element
	kept     []*instance // instances reset for the next executions (instance.go)
	// staticTables is set when the module's code never changes its
	// tables, so that its instances may be kept (instance.go).
	staticTables bool
	// tenants are those who sent the module's bytes (Config.WithTenant):
	// to any other but the cache owner's "" the module is unknown, so
	// that its sum tells nobody what another tenant runs.
	tenants map[string]bool
}

// compiledFactor estimates the memory of a module's compiled code from the
// size of its bytes: wazero's compiler makes about 3.7 bytes of machine
// code and metadata per byte of a Go guest on amd64 (its cache files).
const compiledFactor = 4

// compileWorkers is how many goroutines compile one module.
const compileWorkers = 2

func newModuleStore(rts *runtimes, cacheDir string, cfg Config) *moduleStore {
	s := &moduleStore{runtimes: rts, cacheDir: cacheDir, limit: cfg.storeLimit, maxImage: cfg.maxMemoryLimit,
		snapLimit: cfg.defaultMemoryLimit, mods: map[string]*storedModule{}, outlines: !cfg.debugInfo}
	if cacheDir != "" {
		s.disk = &diskCache{dir: cacheDir, limit: cfg.cacheLimit, log: cfg.log}
		s.identity = preparedIdentity(rts.stop, cfg.maxMemoryLimit)
	}
	return s
}

// lookup returns module sum acquired, if tenant may run it: from memory
// when tenant sent its bytes before, or, for the cache owner's tenant "",
// from memory or from what earlier agents kept on disk (which that user
// can read anyway). Else it returns nil, and the client is asked for the
// bytes.
func (s *moduleStore) lookup(ctx context.Context, tenant, sum string) *storedModule {
	m := s.acquire(sum)
	if m != nil && !s.knows(m, tenant) {
		s.release(m)
		return nil
	}
	if m == nil && tenant == "" {
		m = s.fromDisk(ctx, sum)
	}
	return m
}

// knows reports whether tenant may run m without sending its bytes.
func (s *moduleStore) knows(m *storedModule, tenant string) bool {
	if tenant == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return m.tenants[tenant]
}

// countFor returns how many modules tenant may run without sending them.
func (s *moduleStore) countFor(tenant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tenant == "" {
		return len(s.mods)
	}
	n := 0
	for _, m := range s.mods {
		if m.tenants[tenant] {
			n++
		}
	}
	return n
}

// close closes every module, once the runtime closed their instances.
func (s *moduleStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sum, m := range s.mods {
		s.lru.Remove(m.elem)
		delete(s.mods, sum)
		m.evicted = true
		if m.refs == 0 {
			m.closeLocked()
		}
	}
	s.bytes = 0
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

// release ends a use that acquire began. The first release after the
// module's image gained a snapshot writes it to disk (prepared.go): the
// execution that took it has ended for its client by then.
func (s *moduleStore) release(m *storedModule) {
	s.mu.Lock()
	keep := !m.snapKept && s.identity != "" && m.err == nil
	s.mu.Unlock()
	if keep && s.keepSnapshot(m.sum, m.image) {
		s.mu.Lock()
		m.snapKept = true
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m.refs--
	if m.refs == 0 && m.evicted {
		m.closeLocked()
	}
}

// add compiles and stores a module tenant uploaded, which tenant may run
// from then on. A module that is not WebAssembly, or that imports what the
// agent lacks, is stored with its error, which is also returned.
func (s *moduleStore) add(ctx context.Context, tenant, sum string, b []byte) error {
	return s.addFrom(ctx, tenant, sum, b, true)
}

// addFrom is add for bytes uploaded by a client or read from disk.
func (s *moduleStore) addFrom(ctx context.Context, tenant, sum string, b []byte, uploaded bool) error {
	if err := checkSum(b, sum); err != nil {
		return err
	}
	if uploaded {
		s.uploads.Add(1)
		s.uploadedBytes.Add(int64(len(b)))
	}
	m, done, err := s.acquireOrTurn(ctx, tenant, sum)
	if err != nil {
		return fmt.Errorf("module %s: %w", short(sum), err)
	}
	if m != nil {
		// The tenant proved it has the bytes: the module compiled for
		// another serves it from now on.
		s.mu.Lock()
		m.tenants[tenant] = true
		s.mu.Unlock()
		s.release(m)
		return m.err
	}
	defer done()
	return s.compileAndInsert(ctx, tenant, sum, b, uploaded)
}

// acquireOrTurn returns module sum acquired if the store holds it. Else it
// waits until no other connection of tenant compiles it and returns done:
// the caller compiles it, and calls done once it is stored or failed.
func (s *moduleStore) acquireOrTurn(ctx context.Context, tenant, sum string) (m *storedModule, done func(), err error) {
	for {
		if m := s.acquire(sum); m != nil {
			return m, nil, nil
		}
		done, err := s.loadTurn(ctx, tenant, sum)
		if err != nil || done != nil {
			return nil, done, err
		}
		// The other connection's compilation ended: look again.
	}
}

// checkSum checks that b hashes to sum.
func checkSum(b []byte, sum string) error {
	got := sha256.Sum256(b)
	if hex.EncodeToString(got[:]) != sum {
		return fmt.Errorf("module upload: the bytes hash to %x, not %s", got[:8], short(sum))
	}
	return nil
}

// A loadKey names a module one tenant compiles into the store.
type loadKey struct{ tenant, sum string }

// loadTurn waits until no other connection of tenant compiles module sum
// into the store. If none did, the caller is now the one that does, and
// calls done when it has finished; else done is nil, and the caller looks
// for the module again (the other may have failed, or been cancelled):
// acquireOrTurn does both.
func (s *moduleStore) loadTurn(ctx context.Context, tenant, sum string) (done func(), err error) {
	key := loadKey{tenant, sum}
	s.mu.Lock()
	wait, busy := s.loading[key]
	if !busy {
		if s.loading == nil {
			s.loading = map[loadKey]chan struct{}{}
		}
		ch := make(chan struct{})
		s.loading[key] = ch
		s.mu.Unlock()
		return func() {
			s.mu.Lock()
			delete(s.loading, key)
			s.mu.Unlock()
			close(ch)
		}, nil
	}
	s.mu.Unlock()
	select {
	case <-wait:
		return nil, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// compileAndInsert compiles b, module sum that tenant sent or the disk
// held, and stores it with its verdict, which it returns.
func (s *moduleStore) compileAndInsert(ctx context.Context, tenant, sum string, b []byte, uploaded bool) error {
	ctx = withTenant(ctx, tenant) // for its turn at the compile lock
	// Compiled at once, so that a module that cannot run is refused at
	// upload, for the runtime most executions use.
	code, image := newModuleImage(b, s.maxImage)
	stored := &storedModule{sum: sum, image: image, tenants: map[string]bool{tenant: true}}
	code, err := s.prepare(code)
	if err != nil {
		// Only the error is kept: a module that cannot run needs no bytes.
		stored.err = fmt.Errorf("module %s: %w", short(sum), err)
	} else {
		stored.codeLen = len(code)
		err = s.compileChecked(ctx, stored, code)
	}
	if err != nil && ctx.Err() != nil {
		// The request ended, not the module: keep no verdict on it.
		s.mu.Lock()
		stored.closeLocked()
		s.mu.Unlock()
		return fmt.Errorf("module %s: %w", short(sum), context.Cause(ctx))
	}
	if err == nil {
		if uploaded {
			s.keep(sum, b)
		}
		s.keepPreparedLocked(sum, code, image)
	}
	return s.insert(stored)
}

// addPrepared compiles and stores a module read from disk prepared.
func (s *moduleStore) addPrepared(ctx context.Context, sum string, p *preparedModule) error {
	stored := &storedModule{sum: sum, image: p.image, codeLen: len(p.code), release: p.release, tenants: map[string]bool{}}
	if err := s.compileChecked(ctx, stored, p.code); err != nil {
		return s.insert(stored)
	}
	stored.snapKept = s.loadSnapshot(sum, p.image)
	// The code was read, and copied by the compiler: the file's pages
	// need not stay in the agent's memory.
	dropResident(p.mapping)
	return s.insert(stored)
}

// compileChecked compiles code, prepared, into stored, or records in it
// why the module cannot run, which it returns.
func (s *moduleStore) compileChecked(ctx context.Context, stored *storedModule, code []byte) error {
	compiled, region, outlined, err := s.compile(ctx, stored.sum, code, unlimited)
	stored.compact = outlined
	if err == nil {
		err = checkImports(compiled)
		stored.staticTables = staticTables(compiled)
	}
	if err != nil {
		if compiled != nil {
			compiled.Close(context.Background())
			compiled = nil
		}
		stored.err = fmt.Errorf("module %s: %w", short(stored.sum), err)
	}
	stored.compiled[unlimited] = compiled
	if compiled != nil {
		stored.code = region
	}
	return stored.err
}

// insert adds stored to the store and returns why its module cannot run.
func (s *moduleStore) insert(stored *storedModule) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.mods[stored.sum]; old != nil {
		// Uploaded twice at once: keep the first.
		for t := range stored.tenants {
			old.tenants[t] = true
		}
		stored.closeLocked()
		return old.err
	}
	stored.size = stored.weight()
	s.mods[stored.sum] = stored
	stored.elem = s.lru.PushFront(stored)
	s.bytes += stored.size
	s.evictLocked()
	return stored.err
}

// weight is what m counts for against the store's limit: its bytes and
// the code compiled for each runtime kind, or, for a module kept only for
// its error, that error.
func (m *storedModule) weight() int64 {
	n := int64(256+m.codeLen) + m.image.weight()
	if m.err != nil {
		n += int64(len(m.err.Error()))
	}
	for _, c := range m.compiled {
		if c != nil {
			n += compiledFactor * int64(m.codeLen)
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
// executions, drops the pages of the images that resets read, and keeps
// of each module compiled in full only its outline's compilation
// (swapOutlines). It stops swapping when ctx ends or still reports that
// the agent is busy again.
func (s *moduleStore) releaseKept(ctx context.Context, still func() bool) {
	s.swapOutlines(ctx, still)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mods {
		m.closeKeptLocked()
		m.image.releaseKept()
		m.image.dropViews()
		// Under mu, which every close of a compilation holds: the code
		// stays mapped during the call.
		if m.compiled[unlimited] != nil {
			dropSharedCode(m.code)
		}
	}
}

func (m *storedModule) closeLocked() {
	m.closeKeptLocked()
	m.image.close()
	for i, c := range m.compiled {
		if c != nil {
			c.Close(context.Background())
			m.compiled[i] = nil
			m.code = codeRegion{}
		}
	}
	if m.release != nil {
		m.release()
		m.release = nil
	}
}

// compiledFor returns m's code for a runtime kind. m must be acquired.
func (s *moduleStore) compiledFor(_ context.Context, m *storedModule, kind runtimeKind) (wazero.CompiledModule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := m.compiled[kind]; c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("module %s: not compiled for runtime kind %d", short(m.sum), kind)
}

// prepare returns the code to compile for module code b.
func (s *moduleStore) prepare(b []byte) ([]byte, error) {
	if len(b) < 4 || string(b[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly module (no \\0asm header)")
	}
	if outline.Has(b) {
		// Only agents make outlines: a module sent as one could run
		// the code of the module it outlines.
		return nil, fmt.Errorf("carries a %s section, which only agents make", outline.SectionName)
	}
	b, err := prepare(b, s.runtimes.stop)
	if err != nil {
		return nil, fmt.Errorf("invalid WebAssembly: %w", err)
	}
	return b, nil
}

// compile compiles code made by prepare. It returns where its machine
// code is mapped from a shared code file, if it is, and reports whether
// the code was loaded through the module's outline.
func (s *moduleStore) compile(ctx context.Context, sum string, b []byte, kind runtimeKind) (_ wazero.CompiledModule, code codeRegion, outlined bool, _ error) {
	rt, err := s.runtimes.get(ctx, kind)
	if err != nil {
		return nil, code, false, err
	}
	if err := s.compileMu.LockContext(ctx, tenantOf(ctx)); err != nil {
		return nil, code, false, err
	}
	defer s.compileMu.Unlock()
	// wazero checks for the end of ctx between functions only when it
	// compiles with several workers: then a client that leaves stops its
	// compilation, which would otherwise keep every other waiting.
	ctx = experimental.WithCompilationWorkers(ctx, compileWorkers)
	if s.disk == nil {
		compiled, err := rt.CompileModule(ctx, b)
		if err != nil {
			return nil, code, false, fmt.Errorf("invalid WebAssembly: %w", err)
		}
		s.compilations.Add(1)
		return compiled, code, false, nil
	}
	key := s.cacheKey(sum, kind)
	if rel, fi, ok := s.disk.indexed(key); ok {
		compiled, code, rejected := s.fromOutline(ctx, rt, sum, key, b)
		if compiled != nil {
			s.cacheLoads.Add(1)
			s.outlineLoads.Add(1)
			return compiled, code, true, nil
		}
		if rejected != nil {
			defer rejected.Close(context.Background())
		}
		compiled, code, inMemory, err := s.compileShared(ctx, rt, sum, b)
		if err != nil {
			return nil, code, false, err
		}
		if !inMemory && s.disk.loadedIndexed(rel, fi) {
			s.cacheLoads.Add(1)
		} else {
			s.compilations.Add(1)
		}
		s.makeOutline(ctx, sum, key, b)
		return compiled, code, false, nil
	}
	before := s.disk.files()
	compiled, code, inMemory, err := s.compileShared(ctx, rt, sum, b)
	if err != nil {
		return nil, code, false, err
	}
	if inMemory || s.disk.compiled(key, before) {
		s.compilations.Add(1)
	} else {
		s.cacheLoads.Add(1)
	}
	s.makeOutline(ctx, sum, key, b)
	return compiled, code, false, nil
}

// cacheKey names module sum's code for runtime kind in the disk cache's
// index. The code is the same for every agent of one identity (its
// build), so that agent's index entry names the file wazero loads it
// from.
func (s *moduleStore) cacheKey(sum string, kind runtimeKind) string {
	key := fmt.Sprintf("%s-%d", sum, kind)
	if s.identity != "" {
		id := sha256.Sum256([]byte(s.identity))
		key += "-" + hex.EncodeToString(id[:8])
	}
	return key
}

// compileShared compiles b, and then has the machine code wazero loaded
// or made shared with the other agents of the machine (sharedcode_linux.go),
// and returns where, if it is. It reports whether the code was compiled in
// memory only, because the disk cache could not be written. compileMu
// must be held.
func (s *moduleStore) compileShared(ctx context.Context, rt wazero.Runtime, sum string, b []byte) (_ wazero.CompiledModule, code codeRegion, inMemory bool, _ error) {
	path, _, ok := s.preparedPaths(sum)
	var before map[codeRegion]bool
	if ok {
		// The mappings are the process's: compilations of other
		// engines in it (each Serve without a shared one has its own)
		// must not add theirs meanwhile.
		regionsMu.Lock()
		defer regionsMu.Unlock()
		before = codeRegions()
	}
	compiled, err := rt.CompileModule(ctx, b)
	if err != nil && cacheIOError(err) {
		// wazero adds the code to its memory before it writes the file,
		// and fails the compilation when the write does: compiling again
		// takes the code from memory and writes nothing.
		s.disk.skipped(err)
		inMemory = true
		compiled, err = rt.CompileModule(ctx, b)
	}
	if err != nil {
		if cacheIOError(err) {
			return nil, code, false, fmt.Errorf("host: compilation cache: %w", err)
		}
		return nil, code, false, fmt.Errorf("invalid WebAssembly: %w", err)
	}
	if before != nil && !inMemory {
		code, _ = shareCode(strings.TrimSuffix(path, ".code"), before, codeRegions())
	}
	return compiled, code, inMemory, nil
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
