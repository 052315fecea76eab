// Package outline makes the outline of a WebAssembly module: the module
// with every function body replaced by `unreachable`, and a custom section
// that names the code it outlines.
//
// An outline has the module's shape (types, imports, functions and their
// types, tables, memories, globals, exports, elements, names) and none of
// its code, so a compiler decodes and validates it in a fraction of the
// time. A host that keeps the machine code compiled from the module under
// the outline's cache key loads that code for the outline: machine code
// depends on the bodies it was compiled from and on the shape, which the
// outline keeps (RATIONALE.md, "Why does an agent load a module's code
// through its outline?").
package outline

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/wasmnet/wasmnet/host/internal/wasmbin"
)

// SectionName is the custom section an outline carries. A host refuses
// modules sent to it that carry one, so that no module it was sent is
// ever the outline of another's code.
const SectionName = "wasmnet.outline"

const (
	secCustom = 0
	secCode   = 10
)

// stubBody is a function body with no locals whose only instruction is
// unreachable: valid for every function type.
var stubBody = []byte{3, 0x00, 0x00, 0x0b}

// Of returns the outline of module wasm, tagged with tag (a digest of
// wasm, so that modules of one shape have distinct outlines).
func Of(wasm, tag []byte) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:8], []byte("\x00asm\x01\x00\x00\x00")) {
		return nil, errors.New("outline: not a WebAssembly 1.0 binary module")
	}
	out := make([]byte, 0, len(wasm)/4)
	out = append(out, wasm[:8]...)
	err := sections(wasm, func(id byte, body []byte) error {
		if id != secCode {
			out = append(out, id)
			out = wasmbin.AppendU32(out, uint32(len(body)))
			out = append(out, body...)
			return nil
		}
		n, err := (&wasmbin.Reader{B: body}).VecLen()
		if err != nil {
			return fmt.Errorf("outline: code section: %w", err)
		}
		code := wasmbin.AppendU32(nil, uint32(n))
		for i := 0; i < n; i++ {
			code = append(code, stubBody...)
		}
		out = append(out, secCode)
		out = wasmbin.AppendU32(out, uint32(len(code)))
		out = append(out, code...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	custom := wasmbin.AppendName(nil, SectionName)
	custom = append(custom, tag...)
	out = append(out, secCustom)
	out = wasmbin.AppendU32(out, uint32(len(custom)))
	return append(out, custom...), nil
}

// Has reports whether module wasm carries a custom section named
// SectionName. It reports false for bytes it cannot read as sections,
// which no compiler accepts either.
func Has(wasm []byte) bool {
	if len(wasm) < 8 {
		return false
	}
	found := false
	sections(wasm, func(id byte, body []byte) error {
		if id != secCustom {
			return nil
		}
		r := &wasmbin.Reader{B: body}
		n, err := r.U32()
		if err != nil {
			return nil
		}
		name, err := r.Bytes(int(n))
		if err == nil && string(name) == SectionName {
			found = true
		}
		return nil
	})
	return found
}

// Functions returns how many functions module wasm defines (the length
// of its code section), which its outline defines too.
func Functions(wasm []byte) (int, error) {
	if len(wasm) < 8 {
		return 0, errors.New("outline: not a WebAssembly module")
	}
	n := 0
	err := sections(wasm, func(id byte, body []byte) error {
		if id != secCode {
			return nil
		}
		var err error
		n, err = (&wasmbin.Reader{B: body}).VecLen()
		return err
	})
	return n, err
}

// sections calls fn with each section of wasm in order, until it fails.
func sections(wasm []byte, fn func(id byte, body []byte) error) error {
	if err := wasmbin.Sections(wasm, fn); err != nil {
		return fmt.Errorf("outline: %w", err)
	}
	return nil
}
