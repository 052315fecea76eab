// Package instrument rewrites a WebAssembly module so that the code
// compiled from it calls its host every so often, however it loops or
// recurses: a mutable i32 global counts down at every function entry and
// every loop header, and when it reaches zero the module calls an imported
// host function, which returns the next budget or traps the guest.
//
// The call is where the host checks whether the guest must stop (its
// deadline passed, its channel or agent closed) and where the Go runtime
// can preempt the goroutine that runs the guest, so that a garbage
// collection never waits for a guest that computes. The check costs a few
// instructions per loop iteration; wazero's own cancellation checks exit
// into Go at every one (RATIONALE.md, "Why are guests instrumented?").
//
// The import is added after the module's own, so the indices of the
// module's defined functions shift by one; every place that names a
// function (calls, ref.func, exports, start, element segments, the name
// section) is rewritten to match.
package instrument

import (
	"bytes"
	"errors"
	"fmt"
)

// The host function the rewritten module imports: () -> i32, returning the
// number of checks until the next call. It is not part of the guest ABI;
// a module that already imports from ImportModule is refused.
const (
	ImportModule = "wasmnet_sys"
	ImportName   = "yield"
)

// section ids in the order a module must list them.
const (
	secCustom = 0
	secType   = 1
	secImport = 2
	secGlobal = 6
	secExport = 7
	secStart  = 8
	secElem   = 9
	secCode   = 10
)

// rank gives each known section id its place in a module.
var rank = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

type section struct {
	id   byte
	body []byte
}

// module is the state of one rewrite.
type module struct {
	sections      []section
	importedFuncs uint32
	globals       uint32 // imported and defined
	yieldType     uint32
	yieldFunc     uint32 // index of the added import
	fuelGlobal    uint32 // index of the added global
	initial       int32
}

// Module returns wasm rewritten to call ImportModule.ImportName after at
// most budget function entries and loop iterations, and then after as
// many as that call returns. It fails on a module it cannot parse; such a
// module would not compile either.
func Module(wasm []byte, budget int32) ([]byte, error) {
	if budget <= 0 {
		return nil, errors.New("instrument: budget must be positive")
	}
	m := &module{initial: budget}
	if err := m.split(wasm); err != nil {
		return nil, err
	}
	steps := []func() error{m.addType, m.addImport, m.addGlobal, m.rewriteExports, m.rewriteStart, m.rewriteElems, m.rewriteCode, m.rewriteNames}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	out := append([]byte(nil), wasm[:8]...)
	for _, s := range m.sections {
		out = append(out, s.id)
		out = appendU32(out, uint32(len(s.body)))
		out = append(out, s.body...)
	}
	return out, nil
}

func (m *module) split(wasm []byte) error {
	if len(wasm) < 8 || !bytes.Equal(wasm[:8], []byte("\x00asm\x01\x00\x00\x00")) {
		return errors.New("instrument: not a WebAssembly 1.0 binary module")
	}
	r := &reader{b: wasm, off: 8}
	last := 0
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return err
		}
		n, err := r.u32()
		if err != nil {
			return err
		}
		body, err := r.bytes(int(n))
		if err != nil {
			return fmt.Errorf("instrument: section %d: %w", id, err)
		}
		if id != secCustom {
			k, ok := rank[id]
			if !ok || k <= last {
				return fmt.Errorf("instrument: unknown or misplaced section %d", id)
			}
			last = k
		}
		m.sections = append(m.sections, section{id, body})
	}
	return nil
}

// find returns the index of section id, or -1.
func (m *module) find(id byte) int {
	for i, s := range m.sections {
		if s.id == id {
			return i
		}
	}
	return -1
}

// ensure returns the index of section id, adding an empty one (a vector
// of no elements) in its place if the module lacks it.
func (m *module) ensure(id byte) int {
	if i := m.find(id); i >= 0 {
		return i
	}
	at := len(m.sections)
	for i, s := range m.sections {
		if s.id != secCustom && rank[s.id] > rank[id] {
			at = i
			break
		}
	}
	m.sections = append(m.sections[:at], append([]section{{id, []byte{0}}}, m.sections[at:]...)...)
	return at
}

// shift maps a function index of the input module to the output's.
func (m *module) shift(idx uint32) uint32 {
	if idx >= m.importedFuncs {
		return idx + 1
	}
	return idx
}

// addType finds or appends the type () -> i32 of the host function.
func (m *module) addType() error {
	i := m.ensure(secType)
	r := &reader{b: m.sections[i].body}
	n, err := r.vecLen()
	if err != nil {
		return err
	}
	for t := 0; t < n; t++ {
		form, err := r.byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return fmt.Errorf("instrument: type %d has form 0x%02x, not func", t, form)
		}
		start := r.off
		for range 2 {
			k, err := r.vecLen()
			if err != nil {
				return err
			}
			if _, err := r.bytes(k); err != nil {
				return err
			}
		}
		if bytes.Equal(r.b[start:r.off], []byte{0, 1, 0x7f}) {
			m.yieldType = uint32(t)
			return nil
		}
	}
	m.yieldType = uint32(n)
	body := appendU32(nil, uint32(n+1))
	body = append(body, r.b[lenOfU32(r.b):]...)
	m.sections[i].body = append(body, 0x60, 0, 1, 0x7f)
	return nil
}

// lenOfU32 is the length of the LEB128 at the start of b.
func lenOfU32(b []byte) int {
	for i, c := range b {
		if c&0x80 == 0 {
			return i + 1
		}
	}
	return len(b)
}

// addImport counts the imported functions and globals and appends the
// host function's import.
func (m *module) addImport() error {
	i := m.ensure(secImport)
	r := &reader{b: m.sections[i].body}
	n, err := r.vecLen()
	if err != nil {
		return err
	}
	for range n {
		var names [2]string
		for j := range names {
			k, err := r.vecLen()
			if err != nil {
				return err
			}
			s, err := r.bytes(k)
			if err != nil {
				return err
			}
			names[j] = string(s)
		}
		if names[0] == ImportModule {
			return fmt.Errorf("instrument: the module imports %s.%s; %s is reserved", names[0], names[1], ImportModule)
		}
		if err := m.skipImportDesc(r); err != nil {
			return fmt.Errorf("instrument: import %s.%s: %w", names[0], names[1], err)
		}
	}
	m.yieldFunc = m.importedFuncs
	body := appendU32(nil, uint32(n+1))
	body = append(body, r.b[lenOfU32(r.b):]...)
	body = appendName(appendName(body, ImportModule), ImportName)
	m.sections[i].body = appendU32(append(body, 0x00), m.yieldType)
	return nil
}

func (m *module) skipImportDesc(r *reader) error {
	kind, err := r.byte()
	if err != nil {
		return err
	}
	switch kind {
	case 0x00: // func
		m.importedFuncs++
		return r.skipLEB(5)
	case 0x01: // table: reftype limits
		if _, err := r.byte(); err != nil {
			return err
		}
		return skipLimits(r)
	case 0x02: // memory
		return skipLimits(r)
	case 0x03: // global: valtype mut
		m.globals++
		_, err := r.bytes(2)
		return err
	case 0x04: // tag
		if _, err := r.byte(); err != nil {
			return err
		}
		return r.skipLEB(5)
	}
	return fmt.Errorf("unknown import kind 0x%02x", kind)
}

func skipLimits(r *reader) error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if err := r.skipLEB(10); err != nil {
		return err
	}
	if flags&1 != 0 {
		return r.skipLEB(10)
	}
	return nil
}

// addGlobal rewrites the initializers of the module's globals (they may
// hold ref.func) and appends the counter.
func (m *module) addGlobal() error {
	i := m.ensure(secGlobal)
	r := &reader{b: m.sections[i].body}
	n, err := r.vecLen()
	if err != nil {
		return err
	}
	body := appendU32(nil, uint32(n+1))
	x := &exprRewriter{shift: m.shift}
	for range n {
		t, err := r.bytes(2) // valtype mut
		if err != nil {
			return err
		}
		body = append(body, t...)
		if body, err = x.rewrite(r, body); err != nil {
			return fmt.Errorf("instrument: global initializer: %w", err)
		}
	}
	m.fuelGlobal = m.globals + uint32(n)
	body = append(body, 0x7f, 0x01, 0x41)
	m.sections[i].body = append(appendI32(body, m.initial), 0x0b)
	return nil
}

func (m *module) rewriteExports() error {
	i := m.find(secExport)
	if i < 0 {
		return nil
	}
	r := &reader{b: m.sections[i].body}
	n, err := r.vecLen()
	if err != nil {
		return err
	}
	body := appendU32(nil, uint32(n))
	for range n {
		k, err := r.vecLen()
		if err != nil {
			return err
		}
		name, err := r.bytes(k)
		if err != nil {
			return err
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		idx, err := r.u32()
		if err != nil {
			return err
		}
		if kind == 0x00 {
			idx = m.shift(idx)
		}
		body = appendU32(append(appendName(body, string(name)), kind), idx)
	}
	m.sections[i].body = body
	return nil
}

func (m *module) rewriteStart() error {
	i := m.find(secStart)
	if i < 0 {
		return nil
	}
	r := &reader{b: m.sections[i].body}
	idx, err := r.u32()
	if err != nil {
		return err
	}
	m.sections[i].body = appendU32(nil, m.shift(idx))
	return nil
}
