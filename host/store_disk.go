package host

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// Module bytes on disk: an agent with a compilation cache also keeps every
// module it was sent, by sha256, so that the next agent process on the
// machine (every popen gateway is one) does not need the client to send
// the bytes again (RATIONALE.md, "Why does an agent keep modules on
// disk?"). A file is only ever used after its bytes hash to its name.

// modulesDir is under the compilation cache, beside wazero's own folder.
const modulesDir = "modules"

// maxStoredModule bounds what an agent reads back from disk.
const maxStoredModule = 1 << 30

func (s *moduleStore) modulePath(sum string) (string, bool) {
	if s.cacheDir == "" || len(sum) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return "", false
	}
	return filepath.Join(s.cacheDir, modulesDir, sum+".wasm"), true
}

// fromDisk loads, checks and stores a module kept on disk by an earlier
// agent, and returns it acquired; or returns nil.
func (s *moduleStore) fromDisk(ctx context.Context, sum string) *storedModule {
	path, ok := s.modulePath(sum)
	if !ok {
		return nil
	}
	m, done, err := s.acquireOrTurn(ctx, "", sum)
	if m != nil || err != nil {
		return m // compiled meanwhile for another connection, or given up
	}
	defer done()
	if p := s.loadPrepared(sum); p != nil {
		if err := s.addPrepared(ctx, sum, p); err == nil {
			s.diskLoads.Add(1)
			return s.acquire(sum)
		}
		// The compiler refused what this agent prepared (a module it
		// refused would not have been kept): forget the module, to
		// prepare it again from its bytes.
		s.forget(sum)
		s.removePrepared(sum)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() > maxStoredModule {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) > maxStoredModule {
		return nil
	}
	err = checkSum(b, sum)
	if err == nil {
		err = s.compileAndInsert(ctx, "", sum, b, false)
	}
	if err != nil {
		if m := s.acquire(sum); m != nil {
			return m // a module that cannot run, refused as from a client
		}
		// The bytes do not hash to sum: drop the file, so that the
		// upload that follows replaces it.
		os.Remove(path)
		return nil
	}
	s.diskLoads.Add(1)
	return s.acquire(sum)
}

// keep writes an uploaded module to disk, atomically; a failure only
// means the next agent asks for the bytes. It holds compileMu, so that no
// compilation sees the file appear (diskCache tells a compilation from a
// cache load by the files it adds). The files count against the disk
// cache's limit like wazero's.
func (s *moduleStore) keep(sum string, b []byte) error {
	s.compileMu.Lock()
	defer s.compileMu.Unlock()
	path, ok := s.modulePath(sum)
	if !ok {
		return nil
	}
	err := writeFileOnce(path, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
	if err != nil {
		return fmt.Errorf("host: keep module: %w", err)
	}
	if s.disk != nil {
		s.disk.trim()
	}
	return nil
}

// keepPreparedLocked writes module sum's prepared form (prepared.go),
// holding compileMu for the reason keep does.
func (s *moduleStore) keepPreparedLocked(sum string, code []byte, img *moduleImage) {
	if s.identity == "" {
		return
	}
	s.compileMu.Lock()
	defer s.compileMu.Unlock()
	if s.keepPrepared(sum, code, img) == nil && s.disk != nil {
		s.disk.trim()
	}
}

// removePrepared removes module sum's prepared form.
func (s *moduleStore) removePrepared(sum string) {
	if code, mem, ok := s.preparedPaths(sum); ok {
		os.Remove(code)
		os.Remove(mem)
	}
}

// forget drops module sum from the store, as eviction does.
func (s *moduleStore) forget(sum string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mods[sum]
	if m == nil {
		return
	}
	s.lru.Remove(m.elem)
	delete(s.mods, sum)
	s.bytes -= m.size
	m.evicted = true
	if m.refs == 0 {
		m.closeLocked()
	}
}
