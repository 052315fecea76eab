package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
		bytes := m.bytes
		if bytes == nil && m.load != nil {
			var err error
			if bytes, err = m.load(); err != nil {
				return nil, fmt.Errorf("gateway: load module %s: %w", m.name, err)
			}
		}
		b, err := msgpack.Marshal(&wire.ModuleUpload{Module: m.sum, Bytes: bytes})
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
func LoadModule(path string) (Module, error) {
	b, err := os.ReadFile(path)
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
