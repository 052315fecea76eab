//go:build linux

package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/shared"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// sharedGroup returns a group whose popen gateways share n agent processes.
func sharedGroup(t *testing.T, n int, opts ...Option) *Group {
	t.Helper()
	opts = append([]Option{WithAgentPath(testwasm.Agent(t)), WithOutput(&testutil.SyncBuffer{})}, opts...)
	g := NewGroup(WithGatewayOptions(opts...), WithSharedAgents(n))
	t.Cleanup(func() { g.Terminate(5 * time.Second) })
	return g
}

// byPID groups gws by their agent's process.
func byPID(gws []*Gateway) map[int][]*Gateway {
	out := map[int][]*Gateway{}
	for _, gw := range gws {
		out[gw.Info().PID] = append(out[gw.Info().PID], gw)
	}
	return out
}

// processGone reports whether pid no longer names a process (it was
// reaped: a zombie still answers kill 0).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// TestSharedAgentsSpreadOverProcesses makes six popen gateways in a group
// that shares two agent processes: they are served three by each, every
// one runs its own guest with its own values, and Terminate leaves no
// process behind.
func TestSharedAgentsSpreadOverProcesses(t *testing.T) {
	g := sharedGroup(t, 2)
	gws := makeGateways(t, g, "6*popen")
	procs := byPID(gws)
	if len(procs) != 2 {
		t.Fatalf("6 gateways on %d processes, want 2", len(procs))
	}
	for pid, on := range procs {
		if len(on) != 3 {
			t.Errorf("process %d serves %v, want 3 gateways", pid, ids(on))
		}
	}
	var wg sync.WaitGroup
	for i, gw := range gws {
		wg.Go(func() { echoOnce(t, gw, fmt.Sprintf("from %d", i)) })
	}
	wg.Wait()
	if err := g.Terminate(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for pid := range procs {
		if !processGone(pid) {
			t.Errorf("agent process %d still there after Terminate", pid)
		}
	}
}

// TestOwnProcessWhenAsked gives a gateway an agent process of its own for
// share=no, WithShare(false), and a spec whose directory, environment or
// priority only a process of its own can have; share=yes with those is
// refused.
func TestOwnProcessWhenAsked(t *testing.T) {
	g := sharedGroup(t, 1)
	shared := makeGateways(t, g, "2*popen")
	if shared[0].Info().PID != shared[1].Info().PID {
		t.Fatalf("two gateways of a group with one shared agent on processes %d and %d", shared[0].Info().PID, shared[1].Info().PID)
	}
	pid := shared[0].Info().PID
	dir := t.TempDir()
	own := makeGateways(t, g, "2*popen//share=no", "popen//chdir="+dir, "popen//env:WASMNET_TEST_X=1", "popen//nice=1")
	seen := map[int]string{pid: "the shared agent"}
	for _, gw := range own {
		if was, ok := seen[gw.Info().PID]; ok {
			t.Errorf("%s (%s) runs on process %d, as %s does", gw.ID(), gw.Spec(), gw.Info().PID, was)
		}
		seen[gw.Info().PID] = gw.ID()
	}
	g2 := sharedGroup(t, 1, WithShare(false))
	two := makeGateways(t, g2, "2*popen")
	if two[0].Info().PID == two[1].Info().PID {
		t.Errorf("WithShare(false): two gateways on process %d", two[0].Info().PID)
	}
	_, err := g.MakeGateway(testCtx(t), "popen//share=yes//chdir="+dir)
	if err == nil || !strings.Contains(err.Error(), "share=no") {
		t.Errorf("share=yes with chdir=: %v, want a refusal that says share=no", err)
	}
	if _, err := g.MakeGateway(testCtx(t), "popen//share=maybe"); err == nil || !strings.Contains(err.Error(), "want yes or no") {
		t.Errorf("share=maybe: %v, want a refusal that says what share= takes", err)
	}
}

// TestSharedAgentKilledMidRun kills one of a group's two shared agents
// with SIGKILL while its guests wait: their channels fail with an error
// that names the process, the gateways on the other process go on, and
// the group's next gateway starts a new process.
func TestSharedAgentKilledMidRun(t *testing.T) {
	g := sharedGroup(t, 2)
	procs := byPID(makeGateways(t, g, "4*popen"))
	var victim int
	var lostGws, kept []*Gateway
	for pid, on := range procs {
		if victim == 0 {
			victim, lostGws = pid, on
		} else {
			kept = on
		}
	}
	chans := make(map[*Gateway]func() error)
	for _, gw := range lostGws {
		ch := remoteExec(t, gw, "echo")
		ch.Send("before")
		receive(t, ch)
		chans[gw] = func() error { _, err := ch.Receive(testCtx(t)); return err }
	}
	syscall.Kill(victim, syscall.SIGKILL)
	for gw, recv := range chans {
		err := recv()
		var lost *AgentLostError
		if !errors.As(err, &lost) || lost.PID != victim || !strings.Contains(err.Error(), "shared agent (pid "+strconv.Itoa(victim)+") died") {
			t.Errorf("%s: Receive after its agent was killed: %v, want an *AgentLostError naming pid %d", gw.ID(), err, victim)
		}
	}
	for _, gw := range kept {
		echoOnce(t, gw, "still here")
	}
	for _, gw := range lostGws {
		select {
		case <-gw.Done():
		case <-testCtx(t).Done():
			t.Fatalf("%s did not end with its agent", gw.ID())
		}
	}
	next := makeGateways(t, g, "popen")[0]
	if next.Info().PID == victim {
		t.Fatal("a new gateway on the killed agent")
	}
	echoOnce(t, next, "after")
}

// TestSharedAgentThatFailsToStart: a gateway whose shared agent exits at
// once fails with an *AgentStartError that carries the agent's stderr,
// and the next gateway tries a new process.
func TestSharedAgentThatFailsToStart(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "wasmnet")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\necho this agent is broken >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	g := sharedGroup(t, 1, WithAgentPath(bad))
	for range 2 {
		_, err := g.MakeGateway(testCtx(t), "popen")
		var se *AgentStartError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "this agent is broken") {
			t.Fatalf("a gateway on a broken agent: %v, want an *AgentStartError with its stderr", err)
		}
	}
}

// TestSharedAgentSendBounded: an agent that reads nothing (stopped, say)
// fills its control connection; a gateway's send then fails when its
// context's deadline passes instead of waiting for ever.
func TestSharedAgentSendBounded(t *testing.T) {
	ctl, agentEnd, err := shared.Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	defer agentEnd.Close() // open and never read
	_, f, err := shared.Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := &sharedAgent{ctl: ctl}
	for i := range 1_000_000 { // the socket's buffer fills long before
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := a.send(ctx, f)
		cancel()
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("send %d: %v, want the deadline's error", i, err)
			}
			return
		}
	}
	t.Fatal("a million sends to an agent that reads nothing all succeeded")
}
