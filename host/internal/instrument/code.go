package instrument

import (
	"fmt"
	"slices"
	"strings"
)

// rewriteElems shifts the function indices of element segments, in each of
// their eight encodings.
func (m *module) rewriteElems() error {
	i := m.find(secElem)
	if i < 0 {
		return nil
	}
	r := &reader{b: m.sections[i].body}
	n, err := r.vecLen()
	if err != nil {
		return err
	}
	body := appendU32(nil, uint32(n))
	x := &exprRewriter{shift: m.shift}
	for seg := range n {
		flags, err := r.u32()
		if err != nil {
			return err
		}
		if flags > 7 {
			return fmt.Errorf("instrument: element segment %d has flags %d", seg, flags)
		}
		body = appendU32(body, flags)
		start := r.off
		if flags&3 == 2 { // explicit table index
			if err := r.skipLEB(5); err != nil {
				return err
			}
		}
		body = append(body, r.b[start:r.off]...)
		if flags&1 == 0 { // active: offset expression
			if body, err = x.rewrite(r, body); err != nil {
				return err
			}
		}
		if flags&3 != 0 { // elemkind or reftype
			c, err := r.byte()
			if err != nil {
				return err
			}
			body = append(body, c)
		}
		count, err := r.vecLen()
		if err != nil {
			return err
		}
		body = appendU32(body, uint32(count))
		for range count {
			if flags&4 != 0 {
				body, err = x.rewrite(r, body)
			} else {
				var idx uint32
				idx, err = r.u32()
				body = appendU32(body, m.shift(idx))
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
	c = appendU32(append(c, 0x23), m.fuelGlobal) // global.get
	c = append(c, 0x45, 0x04, 0x40)              // i32.eqz; if
	c = appendU32(append(c, 0x10), m.yieldFunc)  // call yield
	c = appendU32(append(c, 0x24), m.fuelGlobal) // global.set
	c = append(c, 0x0b)                          // end
	c = appendU32(append(c, 0x23), m.fuelGlobal) // global.get
	c = append(c, 0x41, 0x01, 0x6b)              // i32.const 1; i32.sub
	return appendU32(append(c, 0x24), m.fuelGlobal)
}

// loopCheck counts one iteration down in local and every LoopStride of
// them resets it and runs the global check. The common path is a
// decrement and a branch on a register.
func (m *module) loopCheck(local uint32) []byte {
	c := []byte{0x02, 0x40}                         // block
	c = appendU32(append(c, 0x20), local)           // local.get
	c = append(c, 0x41, 0x01, 0x6b)                 // i32.const 1; i32.sub
	c = appendU32(append(c, 0x22), local)           // local.tee
	c = append(c, 0x0d, 0x00)                       // br_if 0
	c = append(c, m.strideInit(local)...)           // local = LoopStride
	c = append(append(c, m.globalCheck()...), 0x0b) // ...; end
	return c
}

// strideInit sets local to LoopStride, at a function's entry and when the
// count ran out.
func (m *module) strideInit(local uint32) []byte {
	c := appendI32([]byte{0x41}, LoopStride) // i32.const
	return appendU32(append(c, 0x21), local) // local.set
}

// rewriteCode adds the checks to every function body: after every loop
// header, and at the entry of functions that call others (a function that
// neither loops nor calls runs a bounded number of instructions, so its
// callers' checks cover it); and it shifts the function indices of calls.
func (m *module) rewriteCode() error {
	i := m.find(secCode)
	if i < 0 {
		return nil
	}
	r := &reader{b: m.sections[i].body}
	n, err := r.vecLen()
	if err != nil {
		return err
	}
	if n != len(m.funcTypes) {
		return fmt.Errorf("instrument: %d function bodies for %d functions", n, len(m.funcTypes))
	}
	entry := m.globalCheck()
	x := &exprRewriter{shift: m.shift}
	body := appendU32(make([]byte, 0, len(r.b)+len(r.b)/8), uint32(n))
	var fn, code []byte
	for f := range n {
		size, err := r.u32()
		if err != nil {
			return err
		}
		src, err := r.bytes(int(size))
		if err != nil {
			return err
		}
		fr := &reader{b: src}
		groups, err := fr.vecLen()
		if err != nil {
			return err
		}
		locals := uint64(m.params[m.funcTypes[f]])
		for range groups {
			k, err := fr.u32()
			if err != nil {
				return err
			}
			locals += uint64(k)
			if _, err := fr.byte(); err != nil {
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
		if !fr.done() {
			return fmt.Errorf("instrument: function %d: bytes after its end", m.importedFuncs+uint32(f))
		}
		fn = fn[:0]
		if x.loops {
			fn = appendU32(fn, uint32(groups+1))
			fn = append(fn, src[lenOfU32(src):localsEnd(src, groups)]...)
			fn = append(fn, 1, 0x7f)
			fn = append(fn, m.strideInit(uint32(locals))...)
		} else {
			fn = append(fn, src[:localsEnd(src, groups)]...)
		}
		if x.calls {
			fn = append(fn, entry...)
		}
		fn = append(fn, code...)
		body = append(appendU32(body, uint32(len(fn))), fn...)
	}
	if !r.done() {
		return fmt.Errorf("instrument: bytes after the code section's functions")
	}
	m.sections[i].body = body
	return nil
}

// localsEnd returns the offset after the local declarations of a function
// body that was parsed once already.
func localsEnd(src []byte, groups int) int {
	r := &reader{b: src}
	r.u32()
	for range groups {
		r.u32()
		r.byte()
	}
	return r.off
}

// rewriteNames shifts the function indices of the name section, so that
// stack traces still name the guest's functions. A name section that does
// not parse is dropped: it is only debugging information. So are DWARF
// sections, whose code offsets the rewrite invalidates: a wrong source
// line is worse than none.
func (m *module) rewriteNames() error {
	m.sections = slices.DeleteFunc(m.sections, func(s section) bool {
		r := &reader{b: s.body}
		k, err := r.vecLen()
		if s.id != secCustom || err != nil {
			return false
		}
		name, err := r.bytes(k)
		return err == nil && strings.HasPrefix(string(name), ".debug_")
	})
	for i := range m.sections {
		s := &m.sections[i]
		if s.id != secCustom {
			continue
		}
		r := &reader{b: s.body}
		k, err := r.vecLen()
		if err != nil {
			continue
		}
		name, err := r.bytes(k)
		if err != nil || string(name) != "name" {
			continue
		}
		body, err := m.names(r, append([]byte(nil), s.body[:r.off]...))
		if err != nil {
			m.sections = append(m.sections[:i], m.sections[i+1:]...)
			return nil
		}
		s.body = body
		return nil
	}
	return nil
}

func (m *module) names(r *reader, body []byte) ([]byte, error) {
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		sub, err := r.bytes(int(size))
		if err != nil {
			return nil, err
		}
		if id >= 1 && id <= 3 { // function names, local names, label names
			if sub, err = m.shiftNameMap(sub, id != 1); err != nil {
				return nil, err
			}
		}
		body = append(appendU32(append(body, id), uint32(len(sub))), sub...)
	}
	return body, nil
}

// shiftNameMap shifts the function indices that key a name map, or an
// indirect name map whose inner maps are copied as they are.
func (m *module) shiftNameMap(b []byte, indirect bool) ([]byte, error) {
	r := &reader{b: b}
	n, err := r.vecLen()
	if err != nil {
		return nil, err
	}
	out := appendU32(nil, uint32(n))
	for range n {
		idx, err := r.u32()
		if err != nil {
			return nil, err
		}
		out = appendU32(out, m.shift(idx))
		start := r.off
		inner := 1
		if indirect {
			if inner, err = r.vecLen(); err != nil {
				return nil, err
			}
		}
		for range inner {
			if indirect {
				if _, err := r.u32(); err != nil {
					return nil, err
				}
			}
			k, err := r.vecLen()
			if err != nil {
				return nil, err
			}
			if _, err := r.bytes(k); err != nil {
				return nil, err
			}
		}
		out = append(out, r.b[start:r.off]...)
	}
	return out, nil
}
