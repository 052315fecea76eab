//go:build linux

package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/resident"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// Hostile passes over shared agents (shared.go, shared_linux.go): guests,
// gateways and processes that misbehave while others share their process.

// hangBound catches a hang on a loaded machine; it is no goal.
const hangBound = 60 * time.Second

// waitUntil polls cond until it holds or hangBound passes, and reports
// which.
func waitUntil(cond func() bool) bool {
	deadline := time.Now().Add(hangBound)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// stopUntilCleanup stops pid with SIGSTOP and lets it go on (SIGCONT) when
// the test ends, before the group's Terminate.
func stopUntilCleanup(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	// The signal is delivered when the process next runs.
	testutil.WaitFor(t, "the agent stopped", func() bool { _, stopped := resident.State(pid); return stopped })
}

// TestHostile3StoppedSharedAgentNextGateway: the group's only shared agent
// is stopped (SIGSTOP: a debugger, a job-control mistake, a frozen
// cgroup). A gateway made then fails within its context's deadline, and
// the one after that must not be sent to the stopped process again: it
// gets a process of its own and works, as it would without sharing.
func TestHostile3StoppedSharedAgentNextGateway(t *testing.T) {
	g := sharedGroup(t, 1)
	gw0, err := g.MakeGateway(testCtx(t), "popen")
	if err != nil {
		t.Fatal(err)
	}
	pid := gw0.Info().PID
	stopUntilCleanup(t, pid)
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		start := time.Now()
		gw, err := g.MakeGateway(ctx, "popen")
		took := time.Since(start)
		cancel()
		if took > hangBound {
			t.Fatalf("gateway %d: MakeGateway took %v with a 3s deadline", i, took)
		}
		if err != nil {
			t.Logf("gateway %d with the shared agent stopped: %v (after %v)", i, err, took.Round(time.Millisecond))
			if i == 0 {
				continue
			}
			t.Fatalf("the group's gateway after a failure on its stopped shared agent %d fails as well: %v", pid, err)
		}
		if gw.Info().PID == pid {
			t.Fatalf("gateway %d was served by the stopped agent %d", i, pid)
		}
		echoOnce(t, gw, "on a working process")
		return
	}
}

// TestHostile3TerminateSharedSpinning: three gateways on one shared agent
// run guests that compute for ever; Group.Terminate with a short timeout
// returns within its bound and leaves no process, whether the agent runs
// or is stopped.
func TestHostile3TerminateSharedSpinning(t *testing.T) {
	for _, stop := range []bool{false, true} {
		t.Run(fmt.Sprintf("stopped=%v", stop), func(t *testing.T) {
			g := sharedGroup(t, 1)
			gws := makeGateways(t, g, "3*popen")
			pid := gws[0].Info().PID
			for _, gw := range gws {
				testutil.WaitStarted(t, remoteExec(t, gw, "spin"))
			}
			if stop {
				stopUntilCleanup(t, pid)
			}
			start := time.Now()
			err := g.Terminate(time.Second)
			took := time.Since(start)
			t.Logf("Terminate(1s): %v after %v", err, took.Round(time.Millisecond))
			if took > time.Second+killGrace+5*time.Second {
				t.Errorf("Terminate(1s) took %v, past its timeout and killGrace", took)
			}
			if !waitUntil(func() bool { return processGone(pid) }) {
				t.Fatalf("shared agent %d still there %v after Terminate", pid, hangBound)
			}
		})
	}
}

// TestHostile3KilledGatewayOthersGoOn: of three gateways on one shared
// agent, one whose guest spins and floods output is killed (Exit with a
// context already ended); the other two go on on the same process, and a
// new gateway joins it.
func TestHostile3KilledGatewayOthersGoOn(t *testing.T) {
	g := sharedGroup(t, 1)
	gws := makeGateways(t, g, "3*popen")
	pid := gws[0].Info().PID
	testutil.WaitStarted(t, remoteExec(t, gws[0], "spin"))
	flood := remoteExec(t, gws[0], "flood")
	if err := flood.Send(int64(1 << 40)); err != nil {
		t.Fatal(err)
	}
	receive(t, flood)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	gws[0].Exit(ended)
	select {
	case <-gws[0].Done():
	case <-time.After(hangBound):
		t.Fatal("the killed gateway never ended")
	}
	if processGone(pid) {
		t.Fatalf("killing one gateway of three ended their shared agent %d", pid)
	}
	for _, gw := range gws[1:] {
		echoOnce(t, gw, "still served")
	}
	next := makeGateways(t, g, "popen")[0]
	echoOnce(t, next, "joined")
}

// TestHostile3LastLeavesAsNewJoins races the last gateway of a shared
// agent leaving against a new gateway joining the group: the new one
// always starts and works, on whichever process.
func TestHostile3LastLeavesAsNewJoins(t *testing.T) {
	g := sharedGroup(t, 1)
	for i := range 12 {
		old, err := g.MakeGateway(testCtx(t), "popen")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { old.Exit(testCtx(t)) })
		gw, err := g.MakeGateway(testCtx(t), "popen")
		wg.Wait()
		if err != nil {
			t.Fatalf("round %d: a gateway joining as the last one left: %v", i, err)
		}
		echoOnce(t, gw, "round "+strconv.Itoa(i))
		if err := gw.Exit(testCtx(t)); err != nil {
			t.Errorf("round %d: Exit: %v", i, err)
		}
	}
}

// children lists the processes whose parent is this one, zombies too.
func children(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == self {
			out = append(out, e.Name()+":"+f[0])
		}
	}
	return out
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestHostile3SharedChurnLeaksNothing starts and ends 64, 200, then 64
// gateways on two shared agents; afterwards the client holds no more
// descriptors, goroutines or child processes than before.
func TestHostile3SharedChurnLeaksNothing(t *testing.T) {
	testwasm.Agent(t) // built before counting
	module(t, "echo")
	fds0, gor0 := openFDs(t), runtime.NumGoroutine()
	g := NewGroup(WithGatewayOptions(WithAgentPath(testwasm.Agent(t)), WithOutput(&testutil.SyncBuffer{})), WithSharedAgents(2), WithMaxParallel(64))
	for round, n := range []int{64, 200, 64} {
		gws := makeGateways(t, g, fmt.Sprintf("%d*popen", n))
		if procs := len(byPID(gws)); procs != 2 {
			t.Errorf("round %d: %d gateways on %d processes, want 2", round, n, procs)
		}
		t.Logf("round %d: %d gateways on %v", round, len(gws), slices.Collect(maps.Keys(byPID(gws))))
		echoOnce(t, gws[0], "first")
		echoOnce(t, gws[n-1], "last")
		var wg sync.WaitGroup
		for _, gw := range gws {
			wg.Go(func() {
				if err := gw.Exit(testCtx(t)); err != nil {
					t.Errorf("round %d: %v", round, err)
				}
			})
		}
		wg.Wait()
	}
	if err := g.Terminate(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	var fds, gor int
	var kids []string
	ok := waitUntil(func() bool {
		fds, gor, kids = openFDs(t), runtime.NumGoroutine(), children(t)
		return fds <= fds0 && gor <= gor0+2 && len(kids) == 0
	})
	if !ok {
		t.Fatalf("after 3 rounds of gateways: %d descriptors (%d before), %d goroutines (%d before), children %v",
			fds, fds0, gor, gor0, kids)
	}
}

// TestHostile3SharedAgentKilledMidStart kills the group's only shared
// agent while gateways are starting on it: each start fails with an error
// that says the agent died (not that it failed to start: it served a
// gateway already), or succeeds on a new process, within its
// context; the group's next gateway works.
func TestHostile3SharedAgentKilledMidStart(t *testing.T) {
	g := sharedGroup(t, 1)
	gw0, err := g.MakeGateway(testCtx(t), "popen")
	if err != nil {
		t.Fatal(err)
	}
	pid := gw0.Info().PID
	const starts = 8
	errs := make(chan error, starts)
	for range starts {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			gw, err := g.MakeGateway(ctx, "popen")
			if err == nil && gw.Info().PID == pid {
				err = fmt.Errorf("started on the killed agent %d", pid)
			}
			errs <- err
		}()
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for range starts {
		select {
		case err := <-errs:
			if err == nil {
				continue
			}
			t.Logf("a start as its agent was killed: %v", err)
			msg := err.Error()
			// The process had started, and served gw0: it did not fail
			// to start, it died, as AgentLostError says.
			var lost *AgentLostError
			if !errors.As(err, &lost) || strings.Contains(msg, "failed to start") {
				t.Errorf("a start as its running agent was killed: %v, want an *AgentLostError, not a failed start", err)
			}
			if strings.Contains(msg, "deadline exceeded") {
				t.Errorf("a start on a killed agent waited for its deadline: %v", err)
			}
		case <-time.After(hangBound):
			t.Fatal("a start as its agent was killed hangs")
		}
	}
	next := makeGateways(t, g, "popen")[0]
	echoOnce(t, next, "after")
}

// TestHostile3KilledAloneAsNewJoins races killing the only gateway of a
// shared agent (Exit with an ended context kills the process it alone
// uses) against a new gateway joining the group: the new gateway must not
// be handed to the process being killed.
func TestHostile3KilledAloneAsNewJoins(t *testing.T) {
	g := sharedGroup(t, 1)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	failed := 0
	for i := range 12 {
		old, err := g.MakeGateway(testCtx(t), "popen")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { old.Exit(ended) })
		gw, err := g.MakeGateway(testCtx(t), "popen")
		wg.Wait()
		if err != nil {
			failed++
			t.Logf("round %d: %v", i, err)
			continue
		}
		echoOnce(t, gw, "round "+strconv.Itoa(i))
		gw.Exit(testCtx(t))
	}
	if failed > 0 {
		t.Errorf("%d of 12 gateways that joined as the group's only other gateway was killed failed", failed)
	}
}

// growWat grows its memory a page at a time for as long as it may, then
// traps.
const growWat = `(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable))`

// TestHostile3SharedGuestsExhaustMemory: guests of one gateway of a shared
// agent grow their memory to their limit and trap, several at once; the
// other gateways on that process, and that gateway, go on.
func TestHostile3SharedGuestsExhaustMemory(t *testing.T) {
	g := sharedGroup(t, 1)
	gws := makeGateways(t, g, "3*popen")
	m := ModuleBytes(testwasm.Wat(t, growWat))
	var chans []*channel.Channel
	for range 4 {
		ch, err := gws[0].RemoteExec(testCtx(t), m, WithMemoryLimit(256<<20))
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	for i, ch := range chans {
		err := ch.WaitClose(testCtx(t))
		t.Logf("guest %d: %v", i, err)
		if err == nil {
			t.Errorf("guest %d grew without bound and ended well", i)
		}
	}
	for _, gw := range gws {
		echoOnce(t, gw, "after the others' guests ran out of memory")
	}
	if n := len(byPID(gws)); n != 1 {
		t.Fatalf("the gateways on %d processes after, want their one", n)
	}
}
