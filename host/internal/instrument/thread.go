package instrument

import (
	"fmt"

	"github.com/wasmnet/wasmnet/host/internal/wasmbin"
)

// Go's WebAssembly backend compiles a function into one loop that
// dispatches, through a br_table on a local, to the block of the basic
// block to run next, so that a goroutine can resume in the middle of a
// function:
//
//	loop
//	  block block ... block          ;; one per basic block
//	    local.get $pc
//	    br_table ...
//	  end  ;; code of basic block 1
//	  ...
//	  i32.const 7  local.set $pc  br $loop   ;; every jump, forward too
//
// Every jump of the function, forward as much as backward, then runs the
// loop's budget check and an indirect branch. A forward jump cannot loop:
// the block it lands at the end of encloses the jump, so execution moves
// on through the function. threader finds such jumps and branches to that
// block's end directly, which is what the br_table would have done: the
// budget check then runs only where the code can go back, and the
// dispatch, which the processor predicts badly, only where Go resumes or
// loops. Nothing is assumed of the producer: the pattern is checked
// instruction by instruction, and a jump is rewritten only when the
// block it lands in is provably the one the br_table names and still
// encloses it.

// A control is one open block, loop or if of the expression rewritten.
type control struct {
	serial   int       // unique within the expression, in opening order
	dispatch *dispatch // for a loop that starts with a dispatch
	loop     bool
}

// A dispatch is the br_table a loop starts with: which local it reads and
// where each value goes, as indices into the control stack.
type dispatch struct {
	local   uint32
	targets []int // by value of local
	def     int   // for every other value
}

// threader tracks the control stack and the two instructions before the
// current one, with which a jump sets the local its loop dispatches on.
type threader struct {
	stack       []control
	serial      int
	loops       int   // loops open in stack
	deepest     int   // the largest len(stack) since reset
	prev, prev2 instr // the last instruction, and the one before it
	threaded    int   // jumps rewritten, for tests
}

// An instr is an opcode and, for i32.const and local.set, its immediate.
type instr struct {
	op    byte
	value int64
}

func (t *threader) reset() {
	*t = threader{stack: t.stack[:0]}
}

// open pushes a block, if or loop; for a loop whose type is empty, r is
// just after its block type, and the loop is checked for a dispatch.
func (t *threader) open(loop bool, r *wasmbin.Reader) {
	t.serial++
	c := control{serial: t.serial, loop: loop}
	if loop {
		t.loops++
	}
	if loop && r != nil {
		c.dispatch = t.findDispatch(*r, len(t.stack))
	}
	t.stack = append(t.stack, c)
}

func (t *threader) close() {
	if len(t.stack) > 0 {
		if t.stack[len(t.stack)-1].loop {
			t.loops--
		}
		t.stack = t.stack[:len(t.stack)-1]
	}
}

// findDispatch reads, on a copy of the reader, whether the loop at stack
// index at starts with blocks of empty type, then local.get and br_table.
func (t *threader) findDispatch(r wasmbin.Reader, at int) *dispatch {
	blocks := 0
	var op byte
	for {
		var err error
		if op, err = r.Byte(); err != nil {
			return nil
		}
		if op != 0x02 || r.Done() || r.B[r.Off] != 0x40 {
			break
		}
		r.Off++
		blocks++
	}
	if op != 0x20 || blocks == 0 {
		return nil
	}
	local, err := r.U32()
	if err != nil {
		return nil
	}
	if op, err := r.Byte(); err != nil || op != 0x0e {
		return nil
	}
	n, err := r.VecLen()
	if err != nil {
		return nil
	}
	inner := at + blocks // stack index of the innermost block
	d := &dispatch{local: local, targets: make([]int, n)}
	for i := 0; i <= n; i++ {
		depth, err := r.U32()
		if err != nil || int(depth) > inner {
			return nil
		}
		if i < n {
			d.targets[i] = inner - int(depth)
		} else {
			d.def = inner - int(depth)
		}
	}
	return d
}

// note records an instruction; value is the immediate of an i32.const or
// a local.set.
func (t *threader) note(op byte, value int64) {
	t.prev2, t.prev = t.prev, instr{op, value}
}

// branch returns the depth a br of depth depth may take instead, and
// whether it may: when the two instructions before it set the local that
// the loop it continues dispatches on, to a constant.
func (t *threader) branch(depth uint32) (uint32, bool) {
	if t.prev.op != 0x21 || t.prev2.op != 0x41 || int(depth) >= len(t.stack) {
		return 0, false
	}
	loop := len(t.stack) - 1 - int(depth)
	d := t.stack[loop].dispatch
	if d == nil || uint64(d.local) != uint64(t.prev.value) {
		return 0, false
	}
	target := d.def
	if k := uint32(int32(t.prev2.value)); k < uint32(len(d.targets)) {
		target = d.targets[k]
	}
	// The block the br_table names is open here, and is the one the
	// loop opened: blocks are numbered in opening order, and the
	// loop's own came right after it.
	if target <= loop || target >= len(t.stack) ||
		t.stack[target].serial != t.stack[loop].serial+(target-loop) {
		return 0, false
	}
	t.threaded++
	return uint32(len(t.stack) - 1 - target), true
}

// checkNesting refuses control nesting past the bounds: the compiler's
// cost for a function grows with its depth times its size.
func (t *threader) checkNesting() error {
	t.deepest = max(t.deepest, len(t.stack))
	if len(t.stack) > MaxNesting {
		return fmt.Errorf("blocks nested %d deep, past the bound of %d", len(t.stack), MaxNesting)
	}
	if t.loops > MaxLoopNesting {
		return fmt.Errorf("loops nested %d deep, past the bound of %d", t.loops, MaxLoopNesting)
	}
	return nil
}
