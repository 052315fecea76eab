package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tetratelabs/wazero"

	"github.com/wasmnet/wasmnet/host/internal/outline"
	"github.com/wasmnet/wasmnet/internal/regfile"
)

// Loads through outlines: on a cache hit, wazero still decodes and
// validates a module's whole code before it reads the machine code from
// its cache file, 60% of a new agent's CPU for a Go guest. The code was
// validated when it was compiled; what the load needs is the module's
// shape. So the first agent that compiles a module also gives its
// outline (the module with empty bodies, host/internal/outline) a cache
// file: a hard link to the module's. The next agents compile the outline,
// which wazero validates in microseconds and for which it loads the
// module's machine code. The code loaded is used only if it is, byte for
// byte, the shared code the module's own compilation left
// (sharedcode_linux.go); else the outline is compiled no further and the
// module is compiled as before (RATIONALE.md, "Why does an agent load a
// module's code through its outline?").

// outlineKey names a module's outline in the disk cache's index, beside
// key, its code's.
func outlineKey(key string) string { return key + "-outline" }

// useOutlines reports whether this store loads code through outlines: it
// needs the disk cache, prepared modules (whose shared code checks a
// load) and no debug information (whose offsets are the module's).
func (s *moduleStore) useOutlines() bool {
	return codeSharing && s.outlines && s.disk != nil && s.identity != "" && s.runtimes.config != nil
}

// outlineOf returns the outline of code b, tagged with b's digest, so
// that a module's outline names that code and no other.
func outlineOf(b []byte) ([]byte, error) {
	sum := sha256.Sum256(b)
	return outline.Of(b, sum[:])
}

// fromOutline compiles code b of module sum through its outline, when an
// earlier agent made one, and returns it with where its code is mapped
// from the shared code file; nil when there is none. When the code it loads
// is not the module's shared code, it returns nil and that compilation as
// rejected, for the caller to close once it has compiled b itself: were
// its code unmapped during that compilation, b's code could take its
// addresses and pass for code that was there before (sharedcode_linux.go).
// compileMu must be held.
func (s *moduleStore) fromOutline(ctx context.Context, rt wazero.Runtime, sum, key string, b []byte) (compiled wazero.CompiledModule, code codeRegion, rejected wazero.CompiledModule) {
	if !s.useOutlines() {
		return nil, code, nil
	}
	rel, fi, ok := s.disk.indexed(outlineKey(key))
	if !ok {
		return nil, code, nil
	}
	base, _, ok := s.preparedPaths(sum)
	if !ok {
		return nil, code, nil
	}
	ol, err := outlineOf(b)
	if err != nil {
		return nil, code, nil
	}
	regionsMu.Lock()
	defer regionsMu.Unlock()
	before := codeRegions()
	compiled, err = rt.CompileModule(ctx, ol)
	if err != nil {
		return nil, code, nil
	}
	loaded := s.disk.loadedIndexed(rel, fi)
	if loaded {
		if code, ok = sameSharedCode(strings.TrimSuffix(base, ".code"), before, codeRegions()); ok {
			return compiled, code, nil
		}
	}
	if !loaded {
		// wazero compiled the empty bodies and cached them under the
		// outline's key: that file must not be what the index names.
		os.Remove(filepath.Join(s.cacheDir, rel))
		os.Remove(filepath.Join(s.cacheDir, indexDir, outlineKey(key)))
	}
	return nil, codeRegion{}, compiled
}

// makeOutline gives the outline of code b, just compiled under key, a
// cache file that is the code's, if it has none. compileMu must be held.
func (s *moduleStore) makeOutline(ctx context.Context, sum, key string, b []byte) {
	if !s.useOutlines() {
		return
	}
	if _, _, ok := s.disk.indexed(outlineKey(key)); ok {
		return
	}
	base, _, ok := s.preparedPaths(sum)
	if !ok {
		return
	}
	code, ok := s.codeFile(ctx, key, strings.TrimSuffix(base, ".code"), b)
	if !ok {
		return
	}
	ol, err := outlineOf(b)
	if err != nil {
		return
	}
	rel, err := s.outlineFile(ctx, ol)
	if err != nil {
		return
	}
	// Linked beside the prepared files first, which the disk cache does
	// not list, then renamed into place, so the file appears whole.
	tmp, err := os.CreateTemp(filepath.Join(s.cacheDir, preparedDir), "outline-*.tmp")
	if err != nil {
		return
	}
	tmp.Close()
	os.Remove(tmp.Name())
	if err := os.Link(filepath.Join(s.cacheDir, code), tmp.Name()); err != nil {
		return
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.cacheDir, rel)); err != nil {
		os.Remove(tmp.Name())
		return
	}
	os.WriteFile(filepath.Join(s.cacheDir, indexDir, outlineKey(key)), []byte(rel), 0o600)
}

// outlineFile returns the path, relative to the cache directory, of the
// file wazero keeps the code of module ol in: found by compiling ol in a
// runtime of the agent's configuration whose cache is an empty directory,
// as wazero does not say its keys.
func (s *moduleStore) outlineFile(ctx context.Context, ol []byte) (string, error) {
	dir, err := os.MkdirTemp(filepath.Join(s.cacheDir, preparedDir), "outline-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cache, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return "", err
	}
	defer cache.Close(ctx)
	rt := wazero.NewRuntimeWithConfig(ctx, s.runtimes.config.WithCompilationCache(cache))
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, ol); err != nil {
		return "", err
	}
	var files []string
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	if len(files) != 1 || !filepath.IsLocal(files[0]) {
		return "", errors.New("host: outline: no single cache file")
	}
	return files[0], nil
}

// codeFile returns the cache file, relative to the cache directory, that
// holds the machine code of code b: the one the index names under key,
// or else the file of wazero's whose machine code is the shared code of
// the module (files base-<size>.exec), which is then indexed. The index
// misses a file when other processes add theirs during the compilation.
//
// Only files of this process's wazero are looked at. Another version's
// file may hold the very same machine code (test binaries, whose wazero
// is "dev", share the user's cache), but this wazero refuses to load it:
// an outline linked to it was compiled from its empty bodies at each
// idle time, and the module kept its full compilation, 8 MB of the
// resident agent's heap for the Starlark interpreter.
func (s *moduleStore) codeFile(ctx context.Context, key, base string, b []byte) (string, bool) {
	if rel, _, ok := s.disk.indexed(key); ok {
		return rel, true
	}
	funcs, err := outline.Functions(b)
	execs, _ := filepath.Glob(base + "-*.exec")
	if err != nil || len(execs) == 0 {
		return "", false
	}
	own, err := s.ownWazeroDir(ctx)
	if err != nil {
		return "", false
	}
	for rel := range s.disk.files() {
		if filepath.Dir(rel) == own && holdsSharedCode(filepath.Join(s.cacheDir, rel), funcs, execs) {
			os.MkdirAll(filepath.Join(s.cacheDir, indexDir), 0o700)
			os.WriteFile(filepath.Join(s.cacheDir, indexDir, key), []byte(rel), 0o600)
			return rel, true
		}
	}
	return "", false
}

// emptyModule is the smallest WebAssembly module: the magic and version.
var emptyModule = []byte("\x00asm\x01\x00\x00\x00")

// ownWazeroDir returns the folder, relative to the cache directory, that
// this process's wazero keeps its files in (one per wazero version and
// platform): found once, from the file a compilation of the empty module
// makes, as wazero does not say it. compileMu must be held.
func (s *moduleStore) ownWazeroDir(ctx context.Context) (string, error) {
	if s.wazeroDir == "" {
		rel, err := s.outlineFile(ctx, emptyModule)
		if err != nil {
			return "", err
		}
		s.wazeroDir = filepath.Dir(rel)
	}
	return s.wazeroDir, nil
}

// holdsSharedCode reports whether the wazero cache file at path holds
// the machine code of funcs functions that one of the shared code files
// execs begins with. It reads wazero's format: "WAZEVO", the version
// (a length byte and the string), the function count (u32) and offsets
// (u64 each), the code's length (u64) and the code.
//
// The code is compared in pieces, never read whole: a cache may hold the
// same module compiled by other builds and wazero versions, with the same
// function count, and each such file and each shared file was read into
// the agent's heap, 15-27 MB apiece for a Go guest.
func holdsSharedCode(path string, funcs int, execs []string) bool {
	f, err := regfile.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	var head [7]byte
	if _, err := f.ReadAt(head[:], 0); err != nil || string(head[:6]) != "WAZEVO" {
		return false
	}
	countAt := int64(len(head)) + int64(head[6])
	sizeAt := countAt + 4 + 8*int64(funcs)
	var count [4]byte
	var size [8]byte
	if sizeAt+8 > fi.Size() {
		return false
	}
	if _, err := f.ReadAt(count[:], countAt); err != nil || int(binary.LittleEndian.Uint32(count[:])) != funcs {
		return false
	}
	if _, err := f.ReadAt(size[:], sizeAt); err != nil {
		return false
	}
	n := binary.LittleEndian.Uint64(size[:])
	if n == 0 || n > uint64(fi.Size()-sizeAt-8) {
		return false
	}
	for _, e := range execs {
		if beginsWith(e, io.NewSectionReader(f, sizeAt+8, int64(n)), int64(n)) {
			return true
		}
	}
	return false
}

// beginsWith reports whether the file at path begins with the n bytes
// that r gives.
func beginsWith(path string, r io.Reader, n int64) bool {
	// Only a regular file: the open of a FIFO (in a damaged cache) would
	// wait for a writer, and every compilation with it.
	f, err := regfile.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() < n {
		return false
	}
	var a, b [32 << 10]byte
	for n > 0 {
		k := int(min(n, int64(len(a))))
		if _, err := io.ReadFull(r, a[:k]); err != nil {
			return false
		}
		if _, err := io.ReadFull(f, b[:k]); err != nil || !bytes.Equal(a[:k], b[:k]) {
			return false
		}
		n -= int64(k)
	}
	return true
}

// Outlines at idle: a module this agent compiled in full keeps its whole
// decoded code in the heap (wazero's CompiledModule holds every function
// body: 4 MB for a Go guest, beside the 15 MB of machine code), where an
// agent that loaded it through its outline keeps only the outline. So
// when the agent idles, each module compiled in full is compiled again
// through its outline, which loads the same machine code from the cache
// file and maps the shared file over it, and the full compilation is
// closed. A module in use at that moment keeps its compilation until the
// next idle time (RATIONALE.md, "Why does an idle agent give back its
// memory?").

// swapOutlines gives each module compiled in full that is not in use its
// outline's compilation instead, until ctx ends or still reports that
// the agent is busy again.
func (s *moduleStore) swapOutlines(ctx context.Context, still func() bool) {
	if !s.useOutlines() {
		return
	}
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	for _, m := range s.swapCandidates() {
		if ctx.Err() != nil || !still() {
			return
		}
		s.swapOutline(ctx, m)
	}
}

// swapCandidates returns the modules whose compilation is not compact and
// that nothing uses.
func (s *moduleStore) swapCandidates() []*storedModule {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*storedModule
	for _, m := range s.mods {
		if !m.compact && m.err == nil && m.refs == 0 && m.compiled[unlimited] != nil {
			out = append(out, m)
		}
	}
	return out
}

// swapOutline replaces m's compilation by its outline's, if m has an
// outline whose code is the module's and m is still unused once it is
// compiled. An execution that started meanwhile keeps the compilation it
// found: m is then swapped at a later idle time.
func (s *moduleStore) swapOutline(ctx context.Context, m *storedModule) {
	s.mu.Lock()
	old := m.compiled[unlimited]
	s.mu.Unlock()
	compiled, code := s.compileOutline(ctx, m.sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	if compiled == nil {
		// No outline, or code that is not the module's: the module keeps
		// what it has, and is not tried again.
		m.compact = ctx.Err() == nil
		return
	}
	if m.evicted || m.refs != 0 || m.compiled[unlimited] != old {
		compiled.Close(context.Background())
		return
	}
	// Kept instances are of the compilation closed here.
	m.closeKeptLocked()
	m.compiled[unlimited] = compiled
	m.code = code
	m.compact = true
	old.Close(context.Background())
	s.outlineSwaps.Add(1)
}

// compileOutline compiles module sum's prepared code, kept on disk,
// through its outline, which it makes if it can, and returns where its
// code is mapped from the shared code file; nil when there is none, or
// the outline's code is not the module's.
func (s *moduleStore) compileOutline(ctx context.Context, sum string) (wazero.CompiledModule, codeRegion) {
	p := s.loadPrepared(sum)
	if p == nil {
		return nil, codeRegion{}
	}
	defer func() {
		p.release()
		p.image.close()
	}()
	rt, err := s.runtimes.get(ctx, unlimited)
	if err != nil {
		return nil, codeRegion{}
	}
	// The store's own work: the owner's turn, as Lock.
	if err := s.compileMu.LockContext(ctx, ""); err != nil {
		return nil, codeRegion{}
	}
	defer s.compileMu.Unlock()
	// The outline may be missing: other processes that added cache files
	// during the compilation hid the module's (codeFile).
	key := s.cacheKey(sum, unlimited)
	s.makeOutline(ctx, sum, key, p.code)
	compiled, code, rejected := s.fromOutline(ctx, rt, sum, key, p.code)
	if rejected != nil {
		rejected.Close(context.Background())
	}
	return compiled, code
}
