package instrument_test

import (
	"bytes"
	"context"
	_ "embed"
	"testing"

	"github.com/wasmnet/wasmnet/host/internal/instrument"
)

//go:embed testdata/dispatch.wasm
var dispatchWasm []byte

// A function shaped as Go shapes every function computes the same after
// the rewrite, through forward jumps, backward jumps, a decoy block where a
// dispatch block stood, and a br_table out of order, and passes the
// loop's check only where it can go back: fewer yields than loop
// headers passed by its jumps.
func TestDispatchJumpsThreaded(t *testing.T) {
	const budget = 1
	rewritten, err := instrument.Module(dispatchWasm, budget)
	if err != nil {
		t.Fatal(err)
	}
	plain, counted := newHost(t, budget), newHost(t, budget)
	a, b := plain.instantiate(t, dispatchWasm), counted.instantiate(t, rewritten)
	for _, fn := range []string{"machine", "shuffled"} {
		for _, n := range []uint64{1, 2, 3, 4, 5, 1000} {
			if x, y := call(t, a, fn, n), call(t, b, fn, n); x != y {
				t.Errorf("%s(%d) = %d after the rewrite, %d before", fn, n, y, x)
			}
		}
	}
	// machine(n) passes its loop header 4n+2 times unthreaded (three
	// forward jumps and one back per round), n+2 threaded; each
	// LoopStride headers cost one yield at budget 1.
	counted.yields = 0
	const rounds = 32000
	call(t, b, "machine", rounds)
	if unthreaded := 4 * rounds / instrument.LoopStride; counted.yields*2 > unthreaded {
		t.Errorf("machine(%d) yielded %d times; unthreaded it yields %d", rounds, counted.yields, unthreaded)
	}
	if counted.yields < rounds/instrument.LoopStride {
		t.Errorf("machine(%d) yielded %d times, fewer than its backward jumps allow", rounds, counted.yields)
	}
}

// A dispatch whose jumps are all threaded but one that goes back never
// ends, and the host still stops it.
func TestThreadedDispatchStoppable(t *testing.T) {
	rewritten, err := instrument.Module(dispatchWasm, 1000)
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, 1000)
	h.stopAt = 20
	mod := h.instantiate(t, rewritten)
	_, err = mod.ExportedFunction("forever").Call(context.Background())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(errStopped.Error())) {
		t.Fatalf("forever returned %v, want the host's %q", err, errStopped)
	}
}
