package tests

// Breaks found by the hostile review: what one module costs the agent
// that compiles and runs it, beyond the limits its tenant was given.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// tableGrowWat grows a table by 40 million entries (320 MB of host memory
// in wazero) while its linear memory is one page.
const tableGrowWat = `(module
  (import "wasmnet" "abi_v1" (func $v1 (result i32)))
  (table $t 1 funcref)
  (memory (export "memory") 1)
  (func (export "_start")
    (if (i32.ne (table.grow $t (ref.null func) (i32.const 40000000)) (i32.const -1))
      (then (unreachable)))))
`

// TestSecurityTableGrowIsBoundedByMemoryLimit: the memory limit bounds
// linear memory only. A guest under a 1 MiB limit grew a table to 40
// million entries, 320 MB of the agent's memory; table.grow takes up to
// 2^32 entries, so a guest of a serve tenant holds tens of GiB whatever
// --memory-limit says; a growth of 10^9 entries (8 GB) under a 4 GB
// address-space limit ended serve itself, for every tenant, with Go's
// "fatal error: out of memory", which no recover catches. (A declared
// initial size past 2^27 entries is refused when the module is
// compiled; table.grow has no such bound.) What should hold: a table's growth counts against
// the execution's memory limit (or a limit of its own) and is refused
// (table.grow returns -1), so this guest ends without error.
func TestSecurityTableGrowIsBoundedByMemoryLimit(t *testing.T) {
	g := makeGateway(t, "popen")
	ctx := ctxFor(t, testutil.WaitTimeout)
	ch, err := g.RemoteExec(ctx, gateway.ModuleBytes(assemble(t, tableGrowWat)), gateway.WithMemoryLimit(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.WaitClose(ctx); err != nil {
		t.Errorf("a table of 40 million entries grew under a 1 MiB memory limit: %v", err)
	}
	hwm := vmHWM(t, g.Info().PID)
	t.Logf("agent's peak RSS %d MiB", hwm>>20)
	if hwm > 256<<20 {
		t.Errorf("the agent's peak RSS is %d MiB after a guest under a 1 MiB memory limit", hwm>>20)
	}
}

// nestedLoops returns a module whose _start is n nested empty loops: 3n+80
// bytes that compiling takes time quadratic in n (50 s for n = 10,000 on
// a loaded machine; hours for n = 80,000).
func nestedLoops(n int) []byte {
	body := []byte{0} // no locals
	for range n {
		body = append(body, 0x03, 0x40) // loop
	}
	for range n + 1 {
		body = append(body, 0x0b) // end
	}
	return startModule([]byte{1, 0}, append(append([]byte{1}, leb(len(body))...), body...))
}

// startModule returns a module that imports wasmnet.abi_v1 and exports a
// memory and _start, function 1 of type () -> (): funcs is its function
// section's body (the defined functions' types, of which type 0 is
// () -> ()) and code its code section's.
func startModule(funcs, code []byte) []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, wasmSection(1, []byte{2, 0x60, 0, 0, 0x60, 0, 1, 0x7f})...)
	m = append(m, wasmSection(2, []byte{1}, wasmName("wasmnet"), wasmName("abi_v1"), []byte{0, 1})...)
	m = append(m, wasmSection(3, funcs)...)
	m = append(m, wasmSection(5, []byte{1, 0, 1})...)
	m = append(m, wasmSection(7, []byte{2}, wasmName("memory"), []byte{2, 0}, wasmName("_start"), []byte{0, 1})...)
	return append(m, wasmSection(10, code)...)
}

// leb is v as an unsigned LEB128.
func leb(v int) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func wasmName(s string) []byte { return append(leb(len(s)), s...) }

func wasmSection(id byte, body ...[]byte) []byte {
	var b []byte
	for _, p := range body {
		b = append(b, p...)
	}
	return append(append([]byte{id}, leb(len(b))...), b...)
}

// TestSecurityCompilationCostsOnlyItsTenant: a restrict key uploads a
// 240 KB module of nested loops, gives up on it after a few seconds and
// hangs up. Compiling nested loops takes wazero time quadratic in their
// depth. serve compiles modules one at a time, whatever their tenant,
// with no bound of time and no cancellation: it went on compiling for
// hours after the client left, and another key's module waited for that
// compilation to end. What should hold: a compilation is bounded (by the
// execution's time limit, or one of the server's) and ends when no client
// waits for it, and one tenant's compilation does not stop another's
// execution from starting. The module is refused before it is compiled:
// its loops nest past instrument.MaxLoopNesting.
func TestSecurityCompilationCostsOnlyItsTenant(t *testing.T) {
	k := newServeKeys(t)
	keyA, lineA := k.client("a")
	keyB, lineB := k.client("b")
	p := k.start("restrict "+lineA+"\nrestrict "+lineB, "")
	a := makeGateway(t, k.spec(p, keyA))
	actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := a.RemoteExec(actx, gateway.ModuleBytes(nestedLoops(80000)), gateway.WithTimeLimit(time.Second))
	cancel()
	t.Logf("key A's execution: %v", err)
	a.Exit(ctxFor(t, testutil.WaitTimeout))
	// Not refused at once, the module keeps serve compiling, for hours,
	// and every other tenant's module waits behind it: stop here rather
	// than wait for that.
	if err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("80,000 nested loops were not refused for their nesting: %v", err)
	}

	b := makeGateway(t, k.spec(p, keyB))
	ctx := ctxFor(t, testutil.WaitTimeout) // a hang, not a goal
	ch, err := b.RemoteExec(ctx, gateway.ModuleBytes(nestedLoops(3)))
	if err == nil {
		err = ch.WaitClose(ctx)
	}
	if err != nil {
		t.Errorf("key B's small module did not run while serve compiled key A's: %v", err)
	}
	p.alive(t)
}

// manyFuncs returns a module of n empty functions: 4n+80 bytes.
func manyFuncs(n int) []byte {
	funcs := leb(n)
	code := leb(n)
	for range n {
		funcs = append(funcs, 0)
		code = append(code, 2, 0, 0x0b) // size 2: no locals, end
	}
	return startModule(funcs, code)
}

// TestSecurityServeSurvivesACostlyModule: a restrict key uploads a 32 MB
// module of 8 million empty functions, half the message limit. Compiling
// it takes some 80 times its size in memory, bounded by nothing serve
// sets: under a 4 GB address-space limit serve ended with Go's "fatal
// error: out of memory", and every other tenant with it (a 64 MiB module
// wants past 10 GB). What should hold: a module's compilation is bounded
// in memory (by its size, or a budget of the server's) and a module past
// it is refused with an error naming the bound (instrument.MaxFuncs);
// serve goes on. Unbounded, the compilation may also end just the
// client's connection rather than serve, hence the check of the error.
func TestSecurityServeSurvivesACostlyModule(t *testing.T) {
	k := newServeKeys(t)
	key, line := k.client("c")
	p := k.start("restrict "+line, "ulimit -v 4000000")
	g := makeGateway(t, k.spec(p, key))
	ctx := ctxFor(t, testutil.WaitTimeout)
	_, err := g.RemoteExec(ctx, gateway.ModuleBytes(manyFuncs(8_000_000)), gateway.WithTimeLimit(time.Second))
	t.Logf("the costly module: %v", err)
	// Refused, saying why, rather than compiled or the connection lost.
	if err == nil || !strings.Contains(err.Error(), "functions, past the bound") {
		t.Errorf("a module of 8 million functions was not refused for their number: %v", err)
	}
	p.alive(t)
}
