package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/internal/regfile"
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
	// open reads the bytes again, for a module whose bytes the process
	// does not keep (a loaded file, the interpreter embedded in the
	// binary); size is their length either way.
	open func() (io.ReadCloser, error)
	size int
	prog *program    // a source guest's program, or nil
	args *moduleArgs // typed arguments (With), or nil
	err  error       // why the module cannot run (Source without an interpreter)
}

// uploadHead returns the start of m's wire.ModuleUpload, as msgpack.Marshal
// writes one, up to its bytes, which follow it.
func (m Module) uploadHead() ([]byte, error) {
	var hdr bytes.Buffer
	enc := msgpack.NewEncoder(&hdr)
	err := errors.Join(enc.EncodeMapLen(2), enc.EncodeString("module"), enc.EncodeString(m.sum),
		enc.EncodeString("bytes"), enc.EncodeBytesLen(m.size))
	return hdr.Bytes(), err
}

// uploadReader returns m's bytes to upload, read as they are sent: no
// upload holds a copy of a module, however many run at once (a Group that
// sends a 4 MB module to 64 agents). Bytes read again from elsewhere are
// checked against the module's sum as they pass (verify).
func (m Module) uploadReader() (io.Reader, func() error, error) {
	if m.open == nil {
		return bytes.NewReader(m.bytes), func() error { return nil }, nil
	}
	rc, err := m.open()
	if err != nil {
		return nil, nil, err
	}
	v := &verifyingReader{r: rc, h: sha256.New(), sum: m.sum, size: m.size}
	return v, func() error {
		defer rc.Close()
		return v.verify()
	}, nil
}

// verifyingReader hashes what it passes on, for verify to check.
type verifyingReader struct {
	r    io.Reader
	h    hash.Hash
	n    int
	sum  string
	size int
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += n
	return n, err
}

// verify checks that what passed was size bytes of sha256 sum and that
// nothing follows them.
func (v *verifyingReader) verify() error {
	var more [1]byte
	extra, _ := io.ReadFull(v.r, more[:])
	if v.n != v.size || extra > 0 || hex.EncodeToString(v.h.Sum(nil)) != v.sum {
		return fmt.Errorf("sha256 %.12s and %d bytes when loaded, not now", v.sum, v.size)
	}
	return nil
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
	m := Module{name: filepath.Base(path), sum: sum, size: size}
	m.open = func() (io.ReadCloser, error) { return openModule(path) }
	return m, nil
}

// maxPipedModule bounds a module read from a pipe, which is held in memory:
// the largest module an agent keeps.
const maxPipedModule = 1 << 30

// loadUnreadable is LoadModule for a file that cannot be read twice (a
// pipe). Its header is checked before the rest is read, and the rest is
// bounded, so that a pipe of anything else, or without end, costs
// nothing or a bounded read.
func loadUnreadable(f *os.File, path string) (Module, error) {
	head := make([]byte, 8)
	if _, err := io.ReadFull(f, head); err != nil || string(head[:4]) != "\x00asm" {
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return Module{}, fmt.Errorf("gateway: load module: %w", err)
		}
		return Module{}, fmt.Errorf("gateway: load module %s: not a WebAssembly module (no \\0asm header)", path)
	}
	rest, err := io.ReadAll(io.LimitReader(f, maxPipedModule-int64(len(head))+1))
	if err != nil {
		return Module{}, fmt.Errorf("gateway: load module: %w", err)
	}
	if len(head)+len(rest) > maxPipedModule {
		return Module{}, fmt.Errorf("gateway: load module %s: larger than %d MiB", path, maxPipedModule>>20)
	}
	b := append(head, rest...)
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

// openModule opens the module file at path again, for an upload, unless
// something other than a regular file took its place.
func openModule(path string) (io.ReadCloser, error) {
	f, err := regfile.Open(path)
	if errors.Is(err, regfile.ErrNotRegular) {
		return nil, fmt.Errorf("%s changed since it was loaded (now not a regular file)", path)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ModuleBytes makes a Module of b, which must not change afterwards.
func ModuleBytes(b []byte) Module {
	sum := sha256.Sum256(b)
	s := hex.EncodeToString(sum[:])
	return Module{name: s[:12], sum: s, bytes: b, size: len(b)}
}

// Name is the module's file name, or the start of its hash.
func (m Module) Name() string { return m.name }

// Sum is the hex sha256 of the module's bytes.
func (m Module) Sum() string { return m.sum }

// Size is the module's size in bytes.
func (m Module) Size() int { return m.size }

// hasBytes reports whether m can be uploaded.
func (m Module) hasBytes() bool { return len(m.bytes) > 0 || m.open != nil }
