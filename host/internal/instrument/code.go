package instrument

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wasmnet/wasmnet/host/internal/wasmbin"
)

// rewriteElems shifts the function indices of element segments, in each of
// their eight encodings.
func (m *module) rewriteElems() error {
	i, r, n, err := m.vec(secElem)
	if i < 0 || err != nil {
		return err
	}
	body := wasmbin.AppendU32(nil, uint32(n))
	x := &exprRewriter{shift: m.shift}
	for seg := range n {
		flags, err := r.U32()
		if err != nil {
			return err
		}
		if flags > 7 {
			return fmt.Errorf("instrument: element segment %d has flags %d", seg, flags)
		}
		body = wasmbin.AppendU32(body, flags)
		start := r.Off
		if flags&3 == 2 { // explicit table index
			if err := r.SkipLEB(5); err != nil {
				return err
			}
		}
		body = append(body, r.B[start:r.Off]...)
		if flags&1 == 0 { // active: offset expression
			if body, err = x.rewrite(r, body); err != nil {
				return err
			}
		}
		if flags&3 != 0 { // elemkind or reftype
			c, err := r.Byte()
			if err != nil {
				return err
			}
			body = append(body, c)
		}
		count, err := r.VecLen()
		if err != nil {
			return err
		}
		body = wasmbin.AppendU32(body, uint32(count))
		for range count {
			if flags&4 != 0 {
				body, err = x.rewrite(r, body)
			} else {
				var idx uint32
				idx, err = r.U32()
				body = wasmbin.AppendU32(body, m.shift(idx))
			}
			if err != nil {
				return fmt.Errorf("instrument: element segment %d: %w", seg, err)
			}
		}
	}
	m.sections[i].body = body
	return nil
}

// LoopStride is how many iterations a loop runs, in one call of its
// function, between two decrements of the module's counter: the loop
// counts in a local of its own, which the compiler keeps in a register,
// and touches the global only every LoopStride iterations.
const LoopStride = 32

// globalCheck counts one step on the module's counter and, when it runs
// out, asks the host for a new budget.
func (m *module) globalCheck() []byte {
	var c []byte
	c = wasmbin.AppendU32(append(c, 0x23), m.fuelGlobal) // global.get
	c = append(c, 0x45, 0x04, 0x40)                      // i32.eqz; if
	c = wasmbin.AppendU32(append(c, 0x10), m.yieldFunc)  // call yield
	c = wasmbin.AppendU32(append(c, 0x24), m.fuelGlobal) // global.set
	c = append(c, 0x0b)                                  // end
	c = wasmbin.AppendU32(append(c, 0x23), m.fuelGlobal) // global.get
	c = append(c, 0x41, 0x01, 0x6b)                      // i32.const 1; i32.sub
	return wasmbin.AppendU32(append(c, 0x24), m.fuelGlobal)
}

// loopCheck counts one iteration down in local and every LoopStride of
// them resets it and runs the global check. The common path is a
// decrement and a branch on a register.
func (m *module) loopCheck(local uint32) []byte {
	c := []byte{0x02, 0x40}                         // block
	c = wasmbin.AppendU32(append(c, 0x20), local)   // local.get
	c = append(c, 0x41, 0x01, 0x6b)                 // i32.const 1; i32.sub
	c = wasmbin.AppendU32(append(c, 0x22), local)   // local.tee
	c = append(c, 0x0d, 0x00)                       // br_if 0
	c = append(c, m.strideInit(local)...)           // local = LoopStride
	c = append(append(c, m.globalCheck()...), 0x0b) // ...; end
	return c
}

// strideInit sets local to LoopStride, at a function's entry and when the
// count ran out.
func (m *module) strideInit(local uint32) []byte {
	c := wasmbin.AppendI32([]byte{0x41}, LoopStride) // i32.const
	return wasmbin.AppendU32(append(c, 0x21), local) // local.set
}

// rewriteCode adds the checks to every function body: after every loop
// header, and at the entry of functions that call others (a function that
// neither loops nor calls runs a bounded number of instructions, so its
// callers' checks cover it); and it shifts the function indices of calls.
func (m *module) rewriteCode() error {
	i, r, n, err := m.vec(secCode)
	if i < 0 || err != nil {
		return err
	}
	if n != len(m.funcTypes) {
		return fmt.Errorf("instrument: %d function bodies for %d functions", n, len(m.funcTypes))
	}
	entry := m.globalCheck()
	x := &exprRewriter{shift: m.shift}
	body := wasmbin.AppendU32(make([]byte, 0, len(r.B)+len(r.B)/8), uint32(n))
	var fn, code []byte
	for f := range n {
		size, err := r.U32()
		if err != nil {
			return err
		}
		if size > MaxFuncBytes {
			return fmt.Errorf("instrument: function %d has %d bytes of code, past the bound of %d", m.importedFuncs+uint32(f), size, MaxFuncBytes)
		}
		src, err := r.Bytes(int(size))
		if err != nil {
			return err
		}
		fr := &wasmbin.Reader{B: src}
		groups, err := fr.VecLen()
		if err != nil {
			return err
		}
		locals := uint64(m.params[m.funcTypes[f]])
		for range groups {
			k, err := fr.U32()
			if err != nil {
				return err
			}
			locals += uint64(k)
			if _, err := fr.Byte(); err != nil {
				return err
			}
		}
		if locals >= 50000 { // wazero's limit on a function's locals
			return fmt.Errorf("instrument: function %d has %d locals", m.importedFuncs+uint32(f), locals)
		}
		x.check = m.loopCheck(uint32(locals))
		if code, err = x.rewrite(fr, code[:0]); err != nil {
			return fmt.Errorf("instrument: function %d: %w", m.importedFuncs+uint32(f), err)
		}
		if !fr.Done() {
			return fmt.Errorf("instrument: function %d: bytes after its end", m.importedFuncs+uint32(f))
		}
		if err := m.addCost(uint64(size), x.jumps.deepest); err != nil {
			return err
		}
		fn = fn[:0]
		if x.loops {
			fn = wasmbin.AppendU32(fn, uint32(groups+1))
			fn = append(fn, src[wasmbin.LenOfU32(src):localsEnd(src, groups)]...)
			fn = append(fn, 1, 0x7f)
			fn = append(fn, m.strideInit(uint32(locals))...)
		} else {
			fn = append(fn, src[:localsEnd(src, groups)]...)
		}
		if x.calls {
			fn = append(fn, entry...)
		}
		fn = append(fn, code...)
		body = append(wasmbin.AppendU32(body, uint32(len(fn))), fn...)
	}
	if !r.Done() {
		return fmt.Errorf("instrument: bytes after the code section's functions")
	}
	m.sections[i].body = body
	m.static = !x.mutates
	return nil
}

// localsEnd returns the offset after the local declarations of a function
// body that was parsed once already.
func localsEnd(src []byte, groups int) int {
	r := &wasmbin.Reader{B: src}
	r.U32()
	for range groups {
		r.U32()
		r.Byte()
	}
	return r.Off
}

// rewriteNames shifts the function indices of the name section, so that
// stack traces still name the guest's functions. A name section that does
// not parse is dropped: it is only debugging information. So are DWARF
// sections, whose code offsets the rewrite invalidates: a wrong source
// line is worse than none.
func (m *module) rewriteNames() error {
	m.sections = slices.DeleteFunc(m.sections, func(s section) bool {
		r := &wasmbin.Reader{B: s.body}
		k, err := r.VecLen()
		if s.id != secCustom || err != nil {
			return false
		}
		name, err := r.Bytes(k)
		return err == nil && strings.HasPrefix(string(name), ".debug_")
	})
	for i := range m.sections {
		s := &m.sections[i]
		if s.id != secCustom {
			continue
		}
		r := &wasmbin.Reader{B: s.body}
		k, err := r.VecLen()
		if err != nil {
			continue
		}
		name, err := r.Bytes(k)
		if err != nil || string(name) != "name" {
			continue
		}
		body, err := m.names(r, append([]byte(nil), s.body[:r.Off]...))
		if err != nil {
			m.sections = append(m.sections[:i], m.sections[i+1:]...)
			return nil
		}
		s.body = body
		return nil
	}
	return nil
}

func (m *module) names(r *wasmbin.Reader, body []byte) ([]byte, error) {
	for !r.Done() {
		id, err := r.Byte()
		if err != nil {
			return nil, err
		}
		size, err := r.U32()
		if err != nil {
			return nil, err
		}
		sub, err := r.Bytes(int(size))
		if err != nil {
			return nil, err
		}
		if id >= 1 && id <= 3 { // function names, local names, label names
			if sub, err = m.shiftNameMap(sub, id != 1); err != nil {
				return nil, err
			}
		}
		body = append(wasmbin.AppendU32(append(body, id), uint32(len(sub))), sub...)
	}
	return body, nil
}

// shiftNameMap shifts the function indices that key a name map, or an
// indirect name map whose inner maps are copied as they are.
func (m *module) shiftNameMap(b []byte, indirect bool) ([]byte, error) {
	r := &wasmbin.Reader{B: b}
	n, err := r.VecLen()
	if err != nil {
		return nil, err
	}
	out := wasmbin.AppendU32(nil, uint32(n))
	for range n {
		idx, err := r.U32()
		if err != nil {
			return nil, err
		}
		out = wasmbin.AppendU32(out, m.shift(idx))
		start := r.Off
		inner := 1
		if indirect {
			if inner, err = r.VecLen(); err != nil {
				return nil, err
			}
		}
		for range inner {
			if indirect {
				if _, err := r.U32(); err != nil {
					return nil, err
				}
			}
			k, err := r.VecLen()
			if err != nil {
				return nil, err
			}
			if _, err := r.Bytes(k); err != nil {
				return nil, err
			}
		}
		out = append(out, r.B[start:r.Off]...)
	}
	return out, nil
}
