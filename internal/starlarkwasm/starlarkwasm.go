// Package starlarkwasm holds the Starlark interpreter guest that wasmnet
// ships, embedded at build time from bin/starlark.wasm (see bin/README.md).
package starlarkwasm

import (
	"embed"
	"errors"
	"io/fs"
)

// Path is where the interpreter lies relative to the repository root; make
// starlark writes it and tests put it there with go build -overlay.
const Path = "internal/starlarkwasm/bin/starlark.wasm"

//go:embed bin
var files embed.FS

// ErrMissing is returned by Bytes when this build has no interpreter.
var ErrMissing = errors.New("this wasmnet was built without its Starlark interpreter: build it with make (make starlark writes " + Path + ")")

// Bytes returns the interpreter's WebAssembly bytes. They are read only;
// callers must not change them.
func Bytes() ([]byte, error) {
	b, err := files.ReadFile("bin/starlark.wasm")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrMissing
	}
	return b, err
}

// Open opens the interpreter's WebAssembly bytes for reading in pieces,
// without the copy Bytes makes.
func Open() (fs.File, error) {
	f, err := files.Open("bin/starlark.wasm")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrMissing
	}
	return f, err
}
