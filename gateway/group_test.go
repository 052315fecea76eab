package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/agentpipe"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// newGroup returns a group of real agent processes, terminated when the
// test ends.
func newGroup(t *testing.T) *Group {
	t.Helper()
	g := NewGroup(WithGatewayOptions(WithAgentPath(testwasm.Agent(t)), WithOutput(&testutil.SyncBuffer{})))
	t.Cleanup(func() { g.Terminate(5 * time.Second) })
	return g
}

func makeGateways(t *testing.T, g *Group, specs ...string) []*Gateway {
	t.Helper()
	gws, err := g.MakeGateways(testCtx(t), specs...)
	if err != nil {
		t.Fatal(err)
	}
	return gws
}

func ids(gws []*Gateway) []string {
	var out []string
	for _, gw := range gws {
		out = append(out, gw.ID())
	}
	return out
}

func TestGroupIDsAndOrder(t *testing.T) {
	g := newGroup(t)
	gw, err := g.MakeGateway(testCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if gw.ID() != "gw0" || gw.Spec().Type != "popen" {
		t.Fatalf("got %s %s, want gw0, a popen gateway", gw.ID(), gw.Spec())
	}
	made := makeGateways(t, g, "2*popen", "popen//id=w1", "popen")
	if got, want := ids(made), []string{"gw1", "gw2", "w1", "gw3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ids %v, want %v", got, want)
	}
	if got, want := ids(g.Gateways()), []string{"gw0", "gw1", "gw2", "w1", "gw3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Gateways() %v, want %v", got, want)
	}
	if g.Gateway("w1") != made[2] || g.Gateway("gw9") != nil {
		t.Fatal("Gateway by id")
	}
}

func TestGroupDuplicateID(t *testing.T) {
	g := newGroup(t)
	makeGateways(t, g, "popen//id=a")
	for _, specs := range [][]string{{"popen//id=a"}, {"popen//id=b", "popen//id=b"}, {"2*popen//id=c"}} {
		_, err := g.MakeGateways(testCtx(t), specs...)
		if err == nil || !strings.Contains(err.Error(), "duplicate gateway id") {
			t.Errorf("%q: got %v, want a duplicate id error", specs, err)
		}
	}
	if got := ids(g.Gateways()); !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("group holds %v after failed makes, want [a]", got)
	}
}

func TestGroupFailedStartExitsTheOthers(t *testing.T) {
	g := newGroup(t)
	_, err := g.MakeGateways(testCtx(t), "2*popen", "popen//agent=/nonexistent/wasmnet")
	if err == nil || !strings.Contains(err.Error(), "popen//agent=/nonexistent/wasmnet") {
		t.Fatalf("got %v, want an error naming the failed spec", err)
	}
	if n := len(g.Gateways()); n != 0 {
		t.Fatalf("group holds %d gateways after a failed MakeGateways", n)
	}
	// The ids are free again.
	if gws := makeGateways(t, g, "popen//id=gw0"); gws[0].ID() != "gw0" {
		t.Fatal(gws[0].ID())
	}
}

func TestGroupViaUnknownHop(t *testing.T) {
	g := newGroup(t)
	if _, err := g.MakeGateway(testCtx(t), "popen//via=nope"); err == nil || !strings.Contains(err.Error(), `no gateway "nope"`) {
		t.Errorf("via=nope: got %v", err)
	}
	if n := len(g.Gateways()); n != 0 {
		t.Errorf("group holds %d gateways", n)
	}
}

func TestGroupExitRemovesGateway(t *testing.T) {
	g := newGroup(t)
	gws := makeGateways(t, g, "3*popen")
	if err := gws[1].Exit(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "gw1 leaves the group", func() bool { return g.Gateway("gw1") == nil })
	// Agent loss too.
	gws[2].kill()
	testutil.WaitFor(t, "gw2 leaves the group", func() bool { return g.Gateway("gw2") == nil })
	if got := ids(g.Gateways()); !reflect.DeepEqual(got, []string{"gw0"}) {
		t.Fatalf("group holds %v", got)
	}
}

// TestGroupTerminate ends agents whose guests block in a receive, spin in
// a loop, or do nothing, within about the timeout, leaving no process.
func TestGroupTerminate(t *testing.T) {
	g := newGroup(t)
	gws := makeGateways(t, g, "3*popen")
	for i, name := range []string{"sleeper", "spin"} {
		ch, err := gws[i].RemoteExec(testCtx(t), module(t, name))
		if err != nil {
			t.Fatal(err)
		}
		testutil.WaitStarted(t, ch)
	}
	var pids []int
	for _, gw := range gws {
		pids = append(pids, gw.Info().PID)
	}
	start := time.Now()
	err := g.Terminate(2 * time.Second)
	if took := time.Since(start); took > 2*time.Second+killGrace {
		t.Fatalf("Terminate took %v", took)
	}
	t.Logf("Terminate: %v", err)
	for i, pid := range pids {
		if pid == 0 || testutil.ProcessRunning(pid) {
			t.Errorf("agent %d (pid %d) still runs after Terminate", i, pid)
		}
	}
	if n := len(g.Gateways()); n != 0 {
		t.Errorf("group holds %d gateways after Terminate", n)
	}
}

func TestMultiChannelEach(t *testing.T) {
	g := newGroup(t)
	makeGateways(t, g, "8*popen")
	mc, err := g.RemoteExec(testCtx(t), module(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	if len(mc.Channels()) != 8 || !reflect.DeepEqual(ids(mc.Gateways()), ids(g.Gateways())) {
		t.Fatal("channels and gateways do not match the group")
	}
	for i := range 3 {
		if err := mc.SendEach(int64(i)); err != nil {
			t.Fatal(err)
		}
		got, err := mc.ReceiveEach(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if want := slices.Repeat([]any{int64(i)}, 8); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// TestMultiChannelReceiveAsArrives gives the first gateway a long primes
// count and the second a short one: the short answer comes first.
func TestMultiChannelReceiveAsArrives(t *testing.T) {
	g := newGroup(t)
	gws := makeGateways(t, g, "2*popen")
	mc, err := g.RemoteExec(testCtx(t), module(t, "primes"))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	chans := mc.Channels()
	chans[0].Send([]any{1, 1_500_000})
	chans[1].Send([]any{1, 1000})
	var order []string
	for range 2 {
		ch, v, err := mc.Receive(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		i := slices.Index(chans, ch)
		order = append(order, fmt.Sprintf("%s=%v", gws[i].ID(), v))
	}
	if want := []string{"gw1=168", "gw0=114155"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("got %v, want %v", order, want)
	}
	if _, err := mc.ReceiveEach(testCtx(t)); err == nil {
		t.Fatal("ReceiveEach after Receive succeeded")
	}
}

// TestMultiChannelReceiveEOF reads wordcount answers until io.EOF and
// checks that no merging goroutine is left.
func TestMultiChannelReceiveEOF(t *testing.T) {
	g := newGroup(t)
	makeGateways(t, g, "3*popen")
	mc, err := g.RemoteExec(testCtx(t), module(t, "wordcount"))
	if err != nil {
		t.Fatal(err)
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	mc.SendEach("a b a")
	mc.SendEach(nil)
	n := 0
	for {
		_, v, err := mc.Receive(testCtx(t))
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]any{"a": int64(2), "b": int64(1)}; !reflect.DeepEqual(v, want) {
			t.Fatalf("got %#v", v)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("got %d answers, want 3", n)
	}
	if _, _, err := mc.Receive(testCtx(t)); err != io.EOF {
		t.Fatalf("Receive after the end: %v", err)
	}
}

// TestMultiChannelCloseEndsReceive stops consuming early: Close ends the
// merging goroutines, which were blocked on a full queue.
func TestMultiChannelCloseEndsReceive(t *testing.T) {
	g := newGroup(t)
	makeGateways(t, g, "2*popen")
	mc, err := g.RemoteExec(testCtx(t), module(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for i := range 10 {
		mc.SendEach(int64(i))
	}
	if _, _, err := mc.Receive(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	mc.Close()
	if _, _, err := mc.Receive(testCtx(t)); !errors.Is(err, channel.ErrClosed) {
		t.Fatalf("Receive after Close: %v", err)
	}
}

func TestMultiChannelWaitClose(t *testing.T) {
	g := newGroup(t)
	gws := makeGateways(t, g, "3*popen")
	var chans []*channel.Channel
	for i, name := range []string{"wordcount", "panic", "panic"} {
		ch, err := gws[i].RemoteExec(testCtx(t), module(t, name))
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	mc := NewMultiChannel(gws, chans)
	chans[0].Send(nil)
	chans[1].Send("boom one")
	chans[2].Send("boom two")
	err := mc.WaitClose(testCtx(t))
	var re *channel.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Message, "boom one") || !strings.Contains(err.Error(), "gw1") {
		t.Fatalf("got %v, want gw1's remote error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	mc2 := NewMultiChannel(gws[:1], []*channel.Channel{remoteExec(t, gws[0], "sleeper")})
	if err := mc2.WaitClose(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitClose on a sleeper: %v", err)
	}
}

// stuckAgent is an agent whose transport neither lets it be reaped nor
// kills it until the test releases it: a Kill that blocks, as an SSH
// session's close does on a dead link.
type stuckAgent struct {
	*agentpipe.Conn
	release chan struct{}
}

func (s stuckAgent) Wait() error {
	<-s.release
	return s.Conn.Wait()
}

func (s stuckAgent) Kill() error {
	<-s.release
	return s.Conn.Kill()
}

// TestSecurityTerminateBlockingKill: Terminate keeps its bound when a
// transport's Kill blocks, and names the gateway it could not reap.
func TestSecurityTerminateBlockingKill(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stuck := WithTransport("stuck", func(context.Context, Spec) (io.ReadWriteCloser, error) {
		return stuckAgent{agentpipe.Start(agentpipe.DefaultConfig()), release}, nil
	})
	g := NewGroup(WithGatewayOptions(stuck, WithAgentPath(testwasm.Agent(t)), WithOutput(io.Discard)))
	makeGateways(t, g, "stuck//id=s1", "popen//id=p1")
	done := make(chan error, 1)
	go func() { done <- g.Terminate(200 * time.Millisecond) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "s1 not reaped") {
			t.Fatalf("Terminate: got %v, want s1 named as not reaped", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("Terminate hangs on a transport whose Kill blocks")
	}
}
