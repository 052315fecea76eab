package gateway

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// resources is what a client process holds that a leak would grow.
type resources struct {
	goroutines, fds, children int
}

func measure(t *testing.T) resources {
	t.Helper()
	// Goroutines of gateways just ended may take a moment to return.
	var r resources
	testutil.Poll(time.Second, func() bool {
		r = resources{runtime.NumGoroutine(), countFDs(t), countChildren(t)}
		return r.children == 0
	})
	return r
}

func countFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting fds: %v", err)
	}
	return len(entries)
}

// countChildren counts this process's children, zombies included.
func countChildren(t *testing.T) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("counting processes: %v", err)
	}
	me := strconv.Itoa(os.Getpid())
	n := 0
	for _, e := range entries {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at ')'.
		s := string(stat)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == me {
				n++
			}
		}
	}
	return n
}

// TestSoakPopenCycles is issue 17's soak kept as a test: popen gateways
// started, used and exited one after another, then many executions on one
// gateway, leave no goroutine, fd, process or agent channel behind. make
// test runs 40 cycles and 1,000 executions (a cycle costs about a second on
// a loaded 2-core machine, most of it loading the guest's compiled code,
// and a leak of one goroutine, fd or process per cycle shows as 40 against
// a slack of 5); -long (or WASMNET_LONG=1) runs the 1,000 cycles
// and 10,000 executions.
func TestSoakPopenCycles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts fds and processes in /proc")
	}
	cycles, execs := 40, 1000
	if *longTests {
		cycles, execs = 1000, 10000
	}
	agent := testwasm.Agent(t)
	echo := module(t, "echo")
	ctx := context.Background()
	cycle := func() {
		g, err := Make(testCtx(t), "popen", WithAgentPath(agent), WithOutput(&testutil.SyncBuffer{}))
		if err != nil {
			t.Fatal(err)
		}
		ch, err := g.RemoteExec(testCtx(t), echo)
		if err != nil {
			t.Fatal(err)
		}
		ch.Send("x")
		if v, err := ch.Receive(testCtx(t)); err != nil || v != "x" {
			t.Fatalf("echo: %v, %v", v, err)
		}
		exitCtx, cancel := context.WithTimeout(ctx, time.Minute)
		g.Exit(exitCtx)
		cancel()
	}
	for range 5 { // warm up: caches, pools, the first agent's compile
		cycle()
	}
	before := measure(t)
	start := time.Now()
	for range cycles {
		cycle()
	}
	after := measure(t)
	t.Logf("%d popen cycles in %v: %+v before, %+v after", cycles, time.Since(start), before, after)
	checkGrowth(t, "popen cycles", before, after)

	g := popen(t, "popen")
	runEcho := func() {
		ch, err := g.RemoteExec(testCtx(t), echo)
		if err != nil {
			t.Fatal(err)
		}
		ch.Send(1)
		if _, err := ch.Receive(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		ch.Close()
		ch.WaitClose(testCtx(t))
	}
	for range 20 {
		runEcho()
	}
	st0, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	before = measure(t)
	for range execs {
		runEcho()
	}
	// The agent closes its side as each guest returns, a moment after the
	// client saw the close: wait for the count to settle.
	var st1 Status
	testutil.Poll(2*time.Second, func() bool {
		if st1, err = g.RemoteStatus(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		return st1.Channels <= st0.Channels && st1.Executing == 0
	})
	after = measure(t)
	t.Logf("%d executions on one gateway: agent channels %d -> %d, %+v before, %+v after", execs, st0.Channels, st1.Channels, before, after)
	if st1.Channels > st0.Channels {
		t.Errorf("agent channels grew from %d to %d over %d executions", st0.Channels, st1.Channels, execs)
	}
	checkGrowth(t, "executions", before, after)
}

// checkGrowth allows a little slack for goroutines of the runtime and of
// the test framework, never growth proportional to the work.
func checkGrowth(t *testing.T, what string, before, after resources) {
	t.Helper()
	if after.goroutines > before.goroutines+5 {
		t.Errorf("%s: goroutines grew from %d to %d", what, before.goroutines, after.goroutines)
	}
	if after.fds > before.fds+3 {
		t.Errorf("%s: fds grew from %d to %d", what, before.fds, after.fds)
	}
	if after.children > before.children {
		t.Errorf("%s: child processes grew from %d to %d", what, before.children, after.children)
	}
}
