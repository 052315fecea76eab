package instrument

import (
	"fmt"

	"github.com/wasmnet/wasmnet/host/internal/wasmbin"
)

// exprRewriter copies one expression (a function body or a constant
// expression), shifting function indices and inserting the budget check
// after every loop header. It must know every opcode's immediates to find
// the next opcode, so an opcode it does not know is an error: the module
// then does not run rather than running unstoppable.
type exprRewriter struct {
	shift func(uint32) uint32 // function index in the old module -> new
	check []byte              // inserted after each loop header; nil in constant expressions

	// What the last expression rewritten holds.
	loops, calls bool
	// mutates is set, for good, by the first instruction rewritten that
	// changes a table or drops a segment.
	mutates bool
	// jumps threads forward jumps through a dispatching loop (thread.go).
	jumps threader
}

// rewrite reads an expression from r up to and including its final end
// and appends the rewritten expression to out.
func (x *exprRewriter) rewrite(r *wasmbin.Reader, out []byte) ([]byte, error) {
	span := r.Off // start of bytes not yet copied to out
	x.loops, x.calls = false, false
	x.jumps.reset()
	for {
		at := r.Off
		op, err := r.Byte()
		if err != nil {
			return nil, err
		}
		var value int64 // the immediate of i32.const and local.set
		switch op {
		case 0x02, 0x04: // block, if
			if err := r.SkipLEB(5); err != nil {
				return nil, err
			}
			x.jumps.open(false, nil)
		case 0x03: // loop
			empty := !r.Done() && r.B[r.Off] == 0x40
			if err := r.SkipLEB(5); err != nil {
				return nil, err
			}
			if empty && x.check != nil {
				x.jumps.open(true, r)
			} else {
				x.jumps.open(true, nil)
			}
			x.loops = true
			if x.check != nil {
				out = append(out, r.B[span:r.Off]...)
				out = append(out, x.check...)
				span = r.Off
			}
		case 0x0b: // end
			if len(x.jumps.stack) == 0 {
				return append(out, r.B[span:r.Off]...), nil
			}
			x.jumps.close()
		case 0x0c: // br
			depth, err := r.U32()
			if err != nil {
				return nil, err
			}
			if to, ok := x.jumps.branch(depth); ok {
				out = append(out, r.B[span:at]...)
				out = wasmbin.AppendU32(append(out, op), to)
				span = r.Off
			}
		case 0x10, 0x12, 0xd2: // call, return_call, ref.func
			idx, err := r.U32()
			if err != nil {
				return nil, err
			}
			x.calls = x.calls || op != 0xd2
			out = append(out, r.B[span:at]...)
			out = wasmbin.AppendU32(append(out, op), x.shift(idx))
			span = r.Off
		case 0x21: // local.set
			idx, err := r.U32()
			if err != nil {
				return nil, err
			}
			value = int64(idx)
		case 0x41: // i32.const
			if value, err = r.S64(); err != nil || r.Off-at > 6 {
				return nil, fmt.Errorf("instrument: bad i32.const at offset %d", at)
			}
		default:
			x.calls = x.calls || op == 0x11 || op == 0x13 // call_indirect, return_call_indirect
			x.mutates = x.mutates || op == 0x26 || op == 0xfc && mutatesInstance(r)
			if err := skipImmediates(r, op); err != nil {
				return nil, fmt.Errorf("%w at offset %d", err, at)
			}
		}
		x.jumps.note(op, value)
		if err := x.jumps.checkNesting(); err != nil {
			return nil, err
		}
	}
}

// mutatesInstance reports whether the 0xfc instruction at r changes what
// instantiation set up beside memory and globals: data.drop, table.init,
// elem.drop, table.copy, table.grow, table.fill. It leaves r where it was.
func mutatesInstance(r *wasmbin.Reader) bool {
	at := r.Off
	sub, err := r.U32()
	r.Off = at
	return err == nil && (sub == 9 || sub >= 12 && sub <= 15 || sub == 17)
}

// skipImmediates skips the immediates of every other opcode.
func skipImmediates(r *wasmbin.Reader, op byte) error {
	switch {
	case op == 0x00, op == 0x01, op == 0x05, op == 0x0f, op == 0x1a, op == 0x1b,
		op >= 0x45 && op <= 0xc4, op == 0xd1:
		// unreachable, nop, else, return, drop, select, numeric, ref.is_null
		return nil
	case op == 0x0c, op == 0x0d: // br, br_if
		return r.SkipLEB(5)
	case op == 0x0e: // br_table
		n, err := r.VecLen()
		if err != nil {
			return err
		}
		for i := 0; i <= n; i++ {
			if err := r.SkipLEB(5); err != nil {
				return err
			}
		}
		return nil
	case op == 0x11, op == 0x13: // call_indirect, return_call_indirect
		if err := r.SkipLEB(5); err != nil {
			return err
		}
		return r.SkipLEB(5)
	case op == 0x1c: // select t*
		n, err := r.VecLen()
		if err != nil {
			return err
		}
		_, err = r.Bytes(n)
		return err
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get/set
		return r.SkipLEB(5)
	case op >= 0x28 && op <= 0x3e: // loads and stores
		return skipMemarg(r)
	case op == 0x3f, op == 0x40: // memory.size, memory.grow
		return r.SkipLEB(5)
	case op == 0x41: // i32.const
		return r.SkipLEB(5)
	case op == 0x42: // i64.const
		return r.SkipLEB(10)
	case op == 0x43:
		_, err := r.Bytes(4)
		return err
	case op == 0x44:
		_, err := r.Bytes(8)
		return err
	case op == 0xd0: // ref.null heaptype
		return r.SkipLEB(5)
	case op == 0xfc:
		return skipFC(r)
	case op == 0xfd:
		return skipSIMD(r)
	case op == 0xfe:
		return skipAtomic(r)
	}
	return fmt.Errorf("instrument: unknown opcode 0x%02x", op)
}

// skipMemarg skips alignment and offset; with multiple memories, bit 6 of
// the alignment says a memory index follows.
func skipMemarg(r *wasmbin.Reader) error {
	align, err := r.U32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if err := r.SkipLEB(5); err != nil {
			return err
		}
	}
	return r.SkipLEB(10) // offset: u64 with memory64
}

func skipFC(r *wasmbin.Reader) error {
	sub, err := r.U32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7: // trunc_sat
		return nil
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
		if err := r.SkipLEB(5); err != nil {
			return err
		}
		return r.SkipLEB(5)
	case sub <= 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
		return r.SkipLEB(5)
	}
	return fmt.Errorf("instrument: unknown opcode 0xfc %d", sub)
}

func skipSIMD(r *wasmbin.Reader) error {
	sub, err := r.U32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11 || sub == 92 || sub == 93: // loads, stores, load_zero
		return skipMemarg(r)
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		_, err := r.Bytes(16)
		return err
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		_, err := r.Byte()
		return err
	case sub >= 84 && sub <= 91: // load_lane, store_lane
		if err := skipMemarg(r); err != nil {
			return err
		}
		_, err := r.Byte()
		return err
	case sub <= 0x113: // every other SIMD and relaxed SIMD op has none
		return nil
	}
	return fmt.Errorf("instrument: unknown opcode 0xfd %d", sub)
}

func skipAtomic(r *wasmbin.Reader) error {
	sub, err := r.U32()
	if err != nil {
		return err
	}
	switch {
	case sub == 0x03: // atomic.fence
		_, err := r.Byte()
		return err
	case sub <= 0x02 || sub >= 0x10 && sub <= 0x4e:
		return skipMemarg(r)
	}
	return fmt.Errorf("instrument: unknown opcode 0xfe %d", sub)
}
