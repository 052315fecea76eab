// Package wasmimage splits a WebAssembly module into code and initial
// memory, so that an agent can instantiate it from a memory image instead
// of having the runtime apply its data segments at every instantiation.
//
// Split returns the module without its data section and with every mutable
// global it defines exported (so a host can read and restore them), and
// the contents of its memory as its active data segments leave it. A
// module whose data the split cannot reproduce exactly (passive segments,
// an imported or shared memory, offsets that are not constants) is
// refused with ErrUnsupported; its host runs it unchanged.
package wasmimage

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/wasmnet/wasmnet/host/internal/wasmbin"
)

// GlobalPrefix starts the names under which Split exports mutable globals:
// GlobalPrefix followed by the global's index.
const GlobalPrefix = "wasmnet.image.global."

// ErrUnsupported is returned for a module Split cannot turn into code and
// memory image; it is not an error in the module.
var ErrUnsupported = errors.New("wasmimage: module not supported")

// Module is a split module.
type Module struct {
	// Code is the module without data, with mutable globals exported.
	Code []byte
	// Data is memory 0 after the active data segments, trimmed after its
	// last non-zero byte; MinPages is its size when instantiated.
	Data     []byte
	MinPages uint32
	// Globals names the exports of the module's mutable globals.
	Globals []string
	// Command is true when the module exports _start, Reactor when it
	// exports _initialize and no _start.
	Command, Reactor bool
}

const (
	secCustom    = 0
	secImport    = 2
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secData      = 11
	secDataCount = 12
	pageSize     = 65536
)

var rank = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

type section struct {
	id   byte
	body []byte
}

// Split splits wasm. maxMemory bounds the initial memory it will build.
func Split(wasm []byte, maxMemory uint64) (*Module, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:8], []byte("\x00asm\x01\x00\x00\x00")) {
		return nil, errors.New("wasmimage: not a WebAssembly 1.0 binary module")
	}
	var secs []section
	last := 0
	err := wasmbin.Sections(wasm, func(id byte, body []byte) error {
		if id != secCustom {
			k, ok := rank[id]
			if !ok || k <= last {
				return fmt.Errorf("unknown or misplaced section %d", id)
			}
			last = k
		}
		secs = append(secs, section{id, body})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("wasmimage: %w", err)
	}
	m := &Module{}
	importedGlobals := uint32(0)
	var exports, globals, memory, data []byte
	hasExports := false
	for _, s := range secs {
		switch s.id {
		case secImport:
			g, err := scanImports(s.body)
			if err != nil {
				return nil, err
			}
			importedGlobals = g
		case secMemory:
			memory = s.body
		case secGlobal:
			globals = s.body
		case secExport:
			exports, hasExports = s.body, true
		case secData:
			data = s.body
		case secDataCount:
			return nil, fmt.Errorf("%w: a data count section (bulk memory may name segments)", ErrUnsupported)
		}
	}
	if memory == nil {
		return nil, fmt.Errorf("%w: no memory of its own", ErrUnsupported)
	}
	min, err := memoryMin(memory)
	if err != nil {
		return nil, err
	}
	if uint64(min)*pageSize > maxMemory {
		return nil, fmt.Errorf("%w: initial memory of %d pages", ErrUnsupported, min)
	}
	m.MinPages = min
	mutable, err := mutableGlobals(globals, importedGlobals)
	if err != nil {
		return nil, err
	}
	newExports, err := m.addExports(exports, hasExports, mutable)
	if err != nil {
		return nil, err
	}
	if m.Data, err = applyData(data, uint64(min)*pageSize); err != nil {
		return nil, err
	}

	out := make([]byte, 0, len(wasm)+len(newExports)-len(exports)-len(data))
	out = append(out, wasm[:8]...)
	wrote := false
	for _, s := range secs {
		if s.id == secData {
			continue
		}
		if !wrote && s.id != secCustom && rank[s.id] > rank[secExport] {
			out = appendSection(out, secExport, newExports)
			wrote = true
		}
		if s.id == secExport {
			s.body = newExports
			wrote = true
		}
		out = appendSection(out, s.id, s.body)
	}
	if !wrote {
		out = appendSection(out, secExport, newExports)
	}
	m.Code = out
	return m, nil
}

func appendSection(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = wasmbin.AppendU32(out, uint32(len(body)))
	return append(out, body...)
}

// scanImports counts imported globals and refuses an imported memory.
func scanImports(body []byte) (globals uint32, err error) {
	r := &wasmbin.Reader{B: body}
	n, err := r.U32()
	if err != nil {
		return 0, err
	}
	for range n {
		for range 2 { // module and field names
			l, err := r.U32()
			if err != nil {
				return 0, err
			}
			if _, err := r.Bytes(int(l)); err != nil {
				return 0, err
			}
		}
		kind, err := r.Byte()
		if err != nil {
			return 0, err
		}
		switch kind {
		case 0: // func
			_, err = r.U32()
		case 1: // table: reftype, limits
			if _, err = r.Byte(); err == nil {
				_, err = limits(r)
			}
		case 2:
			return 0, fmt.Errorf("%w: imports its memory", ErrUnsupported)
		case 3: // global: valtype, mut
			if _, err = r.Bytes(2); err == nil {
				globals++
			}
		default:
			return 0, fmt.Errorf("%w: import kind %d", ErrUnsupported, kind)
		}
		if err != nil {
			return 0, err
		}
	}
	return globals, nil
}

func limits(r *wasmbin.Reader) (min uint32, err error) {
	flag, err := r.Byte()
	if err != nil {
		return 0, err
	}
	if flag > 1 {
		return 0, fmt.Errorf("%w: limits flag %#x (shared or 64-bit memory)", ErrUnsupported, flag)
	}
	if min, err = r.U32(); err != nil {
		return 0, err
	}
	if flag == 1 {
		_, err = r.U32()
	}
	return min, err
}

func memoryMin(body []byte) (uint32, error) {
	r := &wasmbin.Reader{B: body}
	n, err := r.U32()
	if err != nil {
		return 0, err
	}
	if n != 1 {
		return 0, fmt.Errorf("%w: %d memories", ErrUnsupported, n)
	}
	return limits(r)
}

// mutableGlobals returns the indices of the defined mutable globals.
func mutableGlobals(body []byte, first uint32) ([]uint32, error) {
	if body == nil {
		return nil, nil
	}
	r := &wasmbin.Reader{B: body}
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	var out []uint32
	for i := range n {
		vt, err := r.Bytes(2)
		if err != nil {
			return nil, err
		}
		switch vt[0] {
		case 0x7f, 0x7e, 0x7d, 0x7c: // i32 i64 f32 f64
		default:
			return nil, fmt.Errorf("%w: global of type %#x", ErrUnsupported, vt[0])
		}
		if vt[1] == 1 {
			out = append(out, first+i)
		}
		if _, err := constExpr(r); err != nil && err != errNotConst {
			return nil, err
		}
	}
	return out, nil
}

// constExpr reads a constant expression. It returns the value of a lone
// i32.const, and errNotConst for any other valid expression, which a
// global's initialiser may be and a data offset may not.
func constExpr(r *wasmbin.Reader) (v int64, err error) {
	known := true
	first := true
	for {
		op, err := r.Byte()
		if err != nil {
			return 0, err
		}
		switch op {
		case 0x0b:
			if !known || first {
				return 0, errNotConst
			}
			return v, nil
		case 0x41, 0x42: // i32.const, i64.const
			x, err := r.S64()
			if err != nil {
				return 0, err
			}
			if !first || op != 0x41 {
				known = false
			}
			v = x
		case 0x43:
			_, err = r.Bytes(4)
			known = false
		case 0x44:
			_, err = r.Bytes(8)
			known = false
		case 0x23, 0xd2: // global.get, ref.func
			_, err = r.U32()
			known = false
		case 0xd0: // ref.null
			_, err = r.Byte()
			known = false
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant arithmetic
			known = false
		default:
			return 0, fmt.Errorf("%w: opcode %#x in a constant expression", ErrUnsupported, op)
		}
		if err != nil {
			return 0, err
		}
		first = false
	}
}

var errNotConst = fmt.Errorf("%w: a data offset that is not an i32 constant", ErrUnsupported)

func (m *Module) addExports(body []byte, has bool, mutable []uint32) ([]byte, error) {
	var n uint32
	r := &wasmbin.Reader{B: body}
	if has {
		var err error
		if n, err = r.U32(); err != nil {
			return nil, err
		}
		for range n {
			l, err := r.U32()
			if err != nil {
				return nil, err
			}
			name, err := r.Bytes(int(l))
			if err != nil {
				return nil, err
			}
			if _, err := r.Byte(); err != nil {
				return nil, err
			}
			if _, err := r.U32(); err != nil {
				return nil, err
			}
			switch s := string(name); {
			case s == "_start":
				m.Command = true
			case s == "_initialize":
				m.Reactor = true
			case strings.HasPrefix(s, GlobalPrefix):
				return nil, fmt.Errorf("%w: it exports %q", ErrUnsupported, s)
			}
		}
	}
	if m.Command {
		m.Reactor = false
	}
	out := wasmbin.AppendU32(nil, n+uint32(len(mutable)))
	if has {
		out = append(out, body[wasmbin.LenOfU32(body):]...)
	}
	for _, g := range mutable {
		name := GlobalPrefix + strconv.FormatUint(uint64(g), 10)
		m.Globals = append(m.Globals, name)
		out = wasmbin.AppendU32(out, uint32(len(name)))
		out = append(out, name...)
		out = append(out, 3) // global
		out = wasmbin.AppendU32(out, g)
	}
	return out, nil
}

// applyData writes the active segments into a memory of size bytes. It
// reads the segments twice, first for where the last one ends, so that the
// image is allocated once: a Go module has tens of thousands.
func applyData(body []byte, size uint64) ([]byte, error) {
	if body == nil {
		return nil, nil
	}
	var end uint64
	err := segments(body, func(off uint32, b []byte) error {
		e := uint64(off) + uint64(len(b))
		if e > size {
			return fmt.Errorf("%w: a data segment ends at %d, past the initial memory", ErrUnsupported, e)
		}
		end = max(end, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	mem := make([]byte, end)
	segments(body, func(off uint32, b []byte) error {
		copy(mem[off:], b)
		return nil
	})
	for len(mem) > 0 && mem[len(mem)-1] == 0 {
		mem = mem[:len(mem)-1]
	}
	return mem, nil
}

// segments calls fn with each active segment of a data section.
func segments(body []byte, fn func(off uint32, b []byte) error) error {
	r := &wasmbin.Reader{B: body}
	n, err := r.U32()
	if err != nil {
		return err
	}
	for range n {
		flag, err := r.U32()
		if err != nil {
			return err
		}
		switch flag {
		case 0:
		case 2:
			idx, err := r.U32()
			if err != nil {
				return err
			}
			if idx != 0 {
				return fmt.Errorf("%w: data for memory %d", ErrUnsupported, idx)
			}
		default:
			return fmt.Errorf("%w: passive data segment", ErrUnsupported)
		}
		off, err := constExpr(r)
		if err != nil {
			return err
		}
		l, err := r.U32()
		if err != nil {
			return err
		}
		b, err := r.Bytes(int(l))
		if err != nil {
			return err
		}
		if err := fn(uint32(off), b); err != nil {
			return err
		}
	}
	return nil
}
