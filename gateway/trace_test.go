package gateway

import (
	"context"
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
