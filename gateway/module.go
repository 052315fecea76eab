package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
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
	prog  *program // a source guest's program, or nil
	err   error    // why the module cannot run (Source without an interpreter)
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
	return Module{name: s[:12], sum: s, bytes: b}
}

// Name is the module's file name, or the start of its hash.
func (m Module) Name() string { return m.name }

// Sum is the hex sha256 of the module's bytes.
func (m Module) Sum() string { return m.sum }

// Size is the module's size in bytes.
func (m Module) Size() int { return len(m.bytes) }
