package gateway

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
)

// TestTraceLifecycle checks what WithTrace (WASMNET_DEBUG) writes: the
// gateway's start and end, each exec with its channel, and channel closes.
func TestTraceLifecycle(t *testing.T) {
	tr := &testutil.SyncBuffer{}
	g := popen(t, "popen//id=tr1", WithTrace(tr))
	ch := remoteExec(t, g, "echo")
	ch.Send("x")
	receive(t, ch)
	ch.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.Exit(ctx)
	testutil.WaitFor(t, "the reaped trace", func() bool { return strings.Contains(tr.String(), "agent reaped") })
	for _, want := range []string{
		"gateway tr1: starting popen//id=tr1",
		"gateway tr1: up in ",
		"gateway tr1: exec ",
		"exec started on channel 1",
		"gateway tr1: channel 1 closed",
		"gateway tr1: exit",
		"gateway tr1: agent reaped",
	} {
		if !strings.Contains(tr.String(), want) {
			t.Errorf("trace lacks %q:\n%s", want, tr.String())
		}
	}
	for line := range strings.Lines(tr.String()) {
		if !strings.Contains(line, " client[") {
			t.Errorf("trace line %q does not name its process", line)
		}
	}
}

// TestAgentTraceRelayed is execnet's TestTracing.test_popen_stderr_tracing
// for the library: with WithAgentTrace the agent's lines (here of an agent
// in this process, so that both ends run under the race detector) reach
// the client's trace, tagged with the agent's pid and the gateway's id,
// through an Exit that ends the agent.
func TestAgentTraceRelayed(t *testing.T) {
	tr := &testutil.SyncBuffer{}
	g, err := Make(testCtx(t), "inproc//id=rl", withInproc(), WithAgentTrace(tr))
	if err != nil {
		t.Fatal(err)
	}
	ch := remoteExec(t, g, "echo")
	ch.Send("x")
	receive(t, ch)
	ch.Close()
	if _, err := g.RemoteStatus(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.Exit(ctx)
	tag := fmt.Sprintf(" agent[%d]@rl ", os.Getpid())
	for _, want := range []string{" client[", "gateway rl: up in", tag + "agent pid", tag + "request exec of module", tag + "request status"} {
		if !strings.Contains(tr.String(), want) {
			t.Errorf("trace lacks %q:\n%s", want, tr.String())
		}
	}
}
