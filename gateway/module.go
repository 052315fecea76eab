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
	"slices"
	"sync"
	"weak"

	"github.com/vmihailenco/msgpack/v5"
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
	// load appends the bytes to dst again, for a module whose bytes the
	// process does not keep between uploads (a loaded file, the
	// interpreter embedded in the binary); size is their length either way.
	load   func(dst []byte) ([]byte, error)
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
	if m.upload == nil { // a zero Module
		return m.encodeUpload()
	}
	m.upload.mu.Lock()
	defer m.upload.mu.Unlock()
	if p := m.upload.body.Value(); p != nil {
		return p, nil
	}
	p, err := m.encodeUpload()
	if err == nil {
		m.upload.body = weak.Make(p)
	}
	return p, err
}

// encodeUpload encodes a wire.ModuleUpload of m with the module's bytes
// read straight into the request, one allocation of their size: marshalling
// them, after reading them, took three (the read, msgpack's growing buffer
// and its copy), 20 MB at once for the interpreter.
func (m Module) encodeUpload() (*[]byte, error) {
	var hdr bytes.Buffer
	enc := msgpack.NewEncoder(&hdr)
	// wire.ModuleUpload's fields, as msgpack.Marshal writes them.
	err := errors.Join(enc.EncodeMapLen(2), enc.EncodeString("module"), enc.EncodeString(m.sum),
		enc.EncodeString("bytes"), enc.EncodeBytesLen(m.size))
	if err != nil {
		return nil, err
	}
	// One byte more, to see a file that grew, without a copy.
	body := append(make([]byte, 0, hdr.Len()+m.size+1), hdr.Bytes()...)
	switch {
	case m.bytes != nil:
		body = append(body, m.bytes...)
	case m.load != nil:
		if body, err = m.load(body); err != nil {
			return nil, fmt.Errorf("gateway: load module %s: %w", m.name, err)
		}
	}
	return &body, nil
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
	m.load = func(dst []byte) ([]byte, error) { return readModule(dst, path, sum, size) }
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

// readModule appends the module file at path to dst, for an upload, and
// checks that it still is the module LoadModule hashed.
func readModule(dst []byte, path, sum string, size int) ([]byte, error) {
	// Opening a pipe put in the file's place would wait for a writer.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s changed since it was loaded (now not a regular file)", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := appendVerified(dst, f, sum, size)
	if err != nil {
		return nil, fmt.Errorf("%s changed since it was loaded: %w", path, err)
	}
	return out, nil
}

// appendVerified appends what r yields to dst, checking that it is size
// bytes of sha256 sum. It reads at most one byte past size, so a source
// that grew meanwhile costs no more than the module did.
func appendVerified(dst []byte, r io.Reader, sum string, size int) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, size+1)
	n, err := io.ReadFull(r, dst[start:start+size+1])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	got := sha256.Sum256(dst[start : start+n])
	if n != size || hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("sha256 %.12s and %d bytes when loaded, %d bytes now", sum, size, n)
	}
	return dst[:start+n], nil
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
