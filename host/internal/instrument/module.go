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

	"github.com/wasmnet/wasmnet/host/internal/wasmbin"
)

// The host function the rewritten module imports: () -> i32, returning the
// number of checks until the next call. It is not part of the guest ABI;
// a module that already imports from ImportModule is refused.
const (
	ImportModule = "wasmnet_sys"
	ImportName   = "yield"
	// ImportNameStatic is the import's name instead of ImportName when
	// no function of the module can change a table or drop a segment
	// (table.set, table.grow, table.fill, table.copy, table.init,
	// elem.drop, data.drop). An instance of such a module is wholly
	// described by its memory and globals, so a host may reset one and
	// run it again. The rewritten module carries the fact in its import,
	// so that it survives every cache of the module and its compiled code.
	ImportNameStatic = "yield_static"
)

// section ids in the order a module must list them.
const (
	secCustom = 0
	secType   = 1
	secImport = 2
	secFunc   = 3
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
	imports       int    // index of the import section
	importsBody   []byte // the import section up to the added import
	fuelGlobal    uint32 // index of the added global
	initial       int32
	params        []uint32 // parameter count per type
	funcTypes     []uint32 // type index per defined function
	static        bool     // no function changes a table or drops a segment
	cost          uint64   // of compiling the functions read so far (limits.go)
}

// Module returns wasm rewritten to call ImportModule.ImportName after
// budget checks, and then after as many as that call returns. A check is
// the entry into a function that calls others, or LoopStride iterations
// of a loop. It fails on a module it cannot parse; such a
// module would not compile either.
func Module(wasm []byte, budget int32) ([]byte, error) {
	if budget <= 0 {
		return nil, errors.New("instrument: budget must be positive")
	}
	m := &module{initial: budget}
	if err := m.split(wasm); err != nil {
		return nil, err
	}
	steps := []func() error{m.checkCounts, m.capTables, m.addType, m.readFuncs, m.addImport, m.addGlobal, m.rewriteExports, m.rewriteStart, m.rewriteElems, m.rewriteCode, m.nameImport, m.rewriteNames}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	out := append([]byte(nil), wasm[:8]...)
	for _, s := range m.sections {
		out = append(out, s.id)
		out = wasmbin.AppendU32(out, uint32(len(s.body)))
		out = append(out, s.body...)
	}
	return out, nil
}

func (m *module) split(wasm []byte) error {
	if len(wasm) < 8 || !bytes.Equal(wasm[:8], []byte("\x00asm\x01\x00\x00\x00")) {
		return errors.New("instrument: not a WebAssembly 1.0 binary module")
	}
	last := 0
	err := wasmbin.Sections(wasm, func(id byte, body []byte) error {
		if id != secCustom {
			k, ok := rank[id]
			if !ok || k <= last {
				return fmt.Errorf("unknown or misplaced section %d", id)
			}
			last = k
		}
		m.sections = append(m.sections, section{id, body})
		return nil
	})
	if err != nil {
		return fmt.Errorf("instrument: %w", err)
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

// vec opens the vector that section id's body holds: the section's index
// (-1, and no error, when the module has none), a reader after the count,
// and the count.
func (m *module) vec(id byte) (int, *wasmbin.Reader, int, error) {
	i := m.find(id)
	if i < 0 {
		return -1, nil, 0, nil
	}
	r := &wasmbin.Reader{B: m.sections[i].body}
	n, err := r.VecLen()
	return i, r, n, err
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
	r := &wasmbin.Reader{B: m.sections[i].body}
	n, err := r.VecLen()
	if err != nil {
		return err
	}
	found := false
	for t := 0; t < n; t++ {
		form, err := r.Byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return fmt.Errorf("instrument: type %d has form 0x%02x, not func", t, form)
		}
		start := r.Off
		for j := range 2 {
			k, err := r.VecLen()
			if err != nil {
				return err
			}
			if _, err := r.Bytes(k); err != nil {
				return err
			}
			if j == 0 {
				m.params = append(m.params, uint32(k))
			}
		}
		if bytes.Equal(r.B[start:r.Off], []byte{0, 1, 0x7f}) && !found {
			m.yieldType = uint32(t)
			found = true
		}
	}
	if found {
		return nil
	}
	m.yieldType = uint32(n)
	body := wasmbin.AppendU32(nil, uint32(n+1))
	body = append(body, r.B[wasmbin.LenOfU32(r.B):]...)
	m.sections[i].body = append(body, 0x60, 0, 1, 0x7f)
	return nil
}

// readFuncs reads the type of each defined function, to know the index
// of the local the rewrite adds after its parameters and locals.
func (m *module) readFuncs() error {
	i, r, n, err := m.vec(secFunc)
	if i < 0 || err != nil {
		return err
	}
	for range n {
		t, err := r.U32()
		if err != nil {
			return err
		}
		if int(t) >= len(m.params) {
			return fmt.Errorf("instrument: function of unknown type %d", t)
		}
		m.funcTypes = append(m.funcTypes, t)
	}
	return nil
}

// addImport counts the imported functions and globals and appends the
// host function's import.
func (m *module) addImport() error {
	i := m.ensure(secImport)
	r := &wasmbin.Reader{B: m.sections[i].body}
	n, err := r.VecLen()
	if err != nil {
		return err
	}
	for range n {
		var names [2]string
		for j := range names {
			k, err := r.VecLen()
			if err != nil {
				return err
			}
			s, err := r.Bytes(k)
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
	body := wasmbin.AppendU32(nil, uint32(n+1))
	m.imports, m.importsBody = i, append(body, r.B[wasmbin.LenOfU32(r.B):]...)
	return nil
}

// nameImport writes the added import, whose name says whether the code
// rewriteCode read can change the module's tables.
func (m *module) nameImport() error {
	name := ImportName
	if m.static {
		name = ImportNameStatic
	}
	body := wasmbin.AppendName(wasmbin.AppendName(m.importsBody, ImportModule), name)
	m.sections[m.imports].body = wasmbin.AppendU32(append(body, 0x00), m.yieldType)
	return nil
}

func (m *module) skipImportDesc(r *wasmbin.Reader) error {
	kind, err := r.Byte()
	if err != nil {
		return err
	}
	switch kind {
	case 0x00: // func
		m.importedFuncs++
		return r.SkipLEB(5)
	case 0x01: // table: reftype limits
		if _, err := r.Byte(); err != nil {
			return err
		}
		return skipLimits(r)
	case 0x02: // memory
		return skipLimits(r)
	case 0x03: // global: valtype mut
		m.globals++
		_, err := r.Bytes(2)
		return err
	case 0x04: // tag
		if _, err := r.Byte(); err != nil {
			return err
		}
		return r.SkipLEB(5)
	}
	return fmt.Errorf("unknown import kind 0x%02x", kind)
}

func skipLimits(r *wasmbin.Reader) error {
	flags, err := r.Byte()
	if err != nil {
		return err
	}
	if err := r.SkipLEB(10); err != nil {
		return err
	}
	if flags&1 != 0 {
		return r.SkipLEB(10)
	}
	return nil
}

// addGlobal rewrites the initializers of the module's globals (they may
// hold ref.func) and appends the counter.
func (m *module) addGlobal() error {
	i := m.ensure(secGlobal)
	r := &wasmbin.Reader{B: m.sections[i].body}
	n, err := r.VecLen()
	if err != nil {
		return err
	}
	body := wasmbin.AppendU32(nil, uint32(n+1))
	x := &exprRewriter{shift: m.shift}
	for range n {
		t, err := r.Bytes(2) // valtype mut
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
	m.sections[i].body = append(wasmbin.AppendI32(body, m.initial), 0x0b)
	return nil
}

func (m *module) rewriteExports() error {
	i, r, n, err := m.vec(secExport)
	if i < 0 || err != nil {
		return err
	}
	body := wasmbin.AppendU32(nil, uint32(n))
	for range n {
		k, err := r.VecLen()
		if err != nil {
			return err
		}
		name, err := r.Bytes(k)
		if err != nil {
			return err
		}
		kind, err := r.Byte()
		if err != nil {
			return err
		}
		idx, err := r.U32()
		if err != nil {
			return err
		}
		if kind == 0x00 {
			idx = m.shift(idx)
		}
		body = wasmbin.AppendU32(append(wasmbin.AppendName(body, string(name)), kind), idx)
	}
	m.sections[i].body = body
	return nil
}

func (m *module) rewriteStart() error {
	i := m.find(secStart)
	if i < 0 {
		return nil
	}
	r := &wasmbin.Reader{B: m.sections[i].body}
	idx, err := r.U32()
	if err != nil {
		return err
	}
	m.sections[i].body = wasmbin.AppendU32(nil, m.shift(idx))
	return nil
}
