package instrument

import "fmt"

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

// checkCode is the budget check: when the counter is zero, ask the host
// for a new budget; then count this step.
func (m *module) checkCode() []byte {
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

// rewriteCode puts the check at the start of every function body and
// after every loop header, and shifts the function indices of calls.
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
	check := m.checkCode()
	x := &exprRewriter{shift: m.shift, check: check}
	body := appendU32(make([]byte, 0, len(r.b)+len(r.b)/8), uint32(n))
	var fn []byte
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
		for range groups {
			if _, err := fr.u32(); err != nil {
				return err
			}
			if _, err := fr.byte(); err != nil {
				return err
			}
		}
		fn = append(append(fn[:0], src[:fr.off]...), check...)
		if fn, err = x.rewrite(fr, fn); err != nil {
			return fmt.Errorf("instrument: function %d: %w", m.importedFuncs+uint32(f), err)
		}
		if !fr.done() {
			return fmt.Errorf("instrument: function %d: bytes after its end", m.importedFuncs+uint32(f))
		}
		body = append(appendU32(body, uint32(len(fn))), fn...)
	}
	if !r.done() {
		return fmt.Errorf("instrument: bytes after the code section's functions")
	}
	m.sections[i].body = body
	return nil
}

// rewriteNames shifts the function indices of the name section, so that
// stack traces still name the guest's functions. A name section that does
// not parse is dropped: it is only debugging information.
func (m *module) rewriteNames() error {
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
