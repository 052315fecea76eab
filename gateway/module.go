package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"weak"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/internal/wire"
)

// A Module is WebAssembly code to run, addressed by the sha256 of its
// bytes: an agent receives the bytes only the first time it sees the hash.
//
// A Module from Source or WithSource also carries a program, which the
// interpreter module receives first.
type Module struct {
	name  string
	sum   string
	bytes []byte
	// load reads the bytes again, for a module whose bytes the process
	// does not keep between uploads (the interpreter embedded in the
	// binary); size is their length either way.
	load   func() ([]byte, error)
	size   int
	prog   *program      // a source guest's program, or nil
	args   *moduleArgs   // typed arguments (With), or nil
	err    error         // why the module cannot run (Source without an interpreter)
	upload *moduleUpload // shared by the copies of one Module
}

// moduleUpload is a module's upload request, encoded once for the uploads
// under way: a Group that sends a 4 MB module to 64 agents at once holds
// one encoding, not 64. It is held weakly, so that a Module does not keep
// a second copy of its bytes once no upload needs it.
type moduleUpload struct {
	mu   sync.Mutex
	body weak.Pointer[[]byte]
}

// uploadBody returns the encoded wire.ModuleUpload of m. The caller
// keeps the pointer until its upload is written, so that concurrent
// uploads share it.
func (m Module) uploadBody() (*[]byte, error) {
	encode := func() (*[]byte, error) {
		code := m.bytes
		if code == nil && m.load != nil {
			var err error
			if code, err = m.load(); err != nil {
				return nil, fmt.Errorf("gateway: load module %s: %w", m.name, err)
			}
		}
		b, err := msgpack.Marshal(&wire.ModuleUpload{Module: m.sum, Bytes: code})
		return &b, err
	}
	if m.upload == nil { // a zero Module
		return encode()
	}
	m.upload.mu.Lock()
	defer m.upload.mu.Unlock()
	if p := m.upload.body.Value(); p != nil {
		return p, nil
	}
	p, err := encode()
	if err == nil {
		m.upload.body = weak.Make(p)
	}
	return p, err
}

// LoadModule reads a .wasm file. A file that is not WebAssembly is an error.
//
// The Module keeps the file's path, size and sha256, not its bytes: an
// agent that ran the module before (agents keep modules on disk) never asks
// for them, so the file is read again only for an upload. An upload fails
// if the file no longer has the sum it had here, rather than send other
// code under that sum (RATIONALE.md, "Why does a loaded module not keep
// its bytes?").
func LoadModule(path string) (Module, error) {
	// The upload reads the file again, maybe after the process changed
	// its directory.
	path, err := filepath.Abs(path)
	if err != nil {
		return Module{}, fmt.Errorf("gateway: load module: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return Module{}, fmt.Errorf("gateway: load module: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		// A pipe (wasmnet run <(...)) or a device cannot be read again
		// for an upload: its bytes are kept.
		return loadUnreadable(f, path)
	}
	var magic [8]byte
	n, err := io.ReadFull(f, magic[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Module{}, fmt.Errorf("gateway: load module: %w", err)
	}
	if n < len(magic) || string(magic[:4]) != "\x00asm" {
		return Module{}, fmt.Errorf("gateway: load module %s: not a WebAssembly module (no \\0asm header)", path)
	}
	sum, size, err := hashReader(io.MultiReader(bytes.NewReader(magic[:]), f))
	if err != nil {
		return Module{}, fmt.Errorf("gateway: load module: %w", err)
	}
	m := Module{name: filepath.Base(path), sum: sum, size: size, upload: &moduleUpload{}}
	m.load = func() ([]byte, error) { return readModule(path, sum, size) }
	return m, nil
}

// loadUnreadable is LoadModule for a file that cannot be read twice.
func loadUnreadable(f *os.File, path string) (Module, error) {
	b, err := io.ReadAll(f)
	if err != nil {
		return Module{}, fmt.Errorf("gateway: load module: %w", err)
	}
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return Module{}, fmt.Errorf("gateway: load module %s: not a WebAssembly module (no \\0asm header)", path)
	}
	m := ModuleBytes(b)
	m.name = filepath.Base(path)
	return m, nil
}

// hashReader returns the hex sha256 of what r yields, and its length,
// reading it through a small buffer rather than holding it.
func hashReader(r io.Reader) (string, int, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), int(n), nil
}

// readModule reads the module file at path for an upload and checks that
// it still is the module LoadModule hashed. It reads at most one byte past
// size, so a file that grew meanwhile costs no more than the module did.
func readModule(path, sum string, size int) ([]byte, error) {
	// Opening a pipe put in the file's place would wait for a writer.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s changed since it was loaded (now not a regular file)", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, size+1)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	b = b[:n]
	got := sha256.Sum256(b)
	if len(b) != size || hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("%s changed since it was loaded (sha256 %.12s, %d bytes; now %d bytes)", path, sum, size, len(b))
	}
	return b, nil
}

// ModuleBytes makes a Module of b, which must not change afterwards.
func ModuleBytes(b []byte) Module {
	sum := sha256.Sum256(b)
	s := hex.EncodeToString(sum[:])
	return Module{name: s[:12], sum: s, bytes: b, size: len(b), upload: &moduleUpload{}}
}

// Name is the module's file name, or the start of its hash.
func (m Module) Name() string { return m.name }

// Sum is the hex sha256 of the module's bytes.
func (m Module) Sum() string { return m.sum }

// Size is the module's size in bytes.
func (m Module) Size() int { return m.size }

// hasBytes reports whether m can be uploaded.
func (m Module) hasBytes() bool { return len(m.bytes) > 0 || m.load != nil }
