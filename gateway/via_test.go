package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestViaPopen starts an agent as a child of another agent and runs a guest
// on it: every byte of the second gateway crosses the first.
func TestViaPopen(t *testing.T) {
	grp := NewGroup(WithGatewayOptions(WithAgentPath(testwasm.Agent(t)), WithOutput(&testutil.SyncBuffer{})))
	defer grp.Terminate(10 * time.Second)
	hop, err := grp.MakeGateway(testCtx(t), "popen//id=hop")
	if err != nil {
		t.Fatal(err)
	}
	inner, err := grp.MakeGateway(testCtx(t), "popen//id=inner//via=hop")
	if err != nil {
		t.Fatal(err)
	}
	if inner.Info().PID == hop.Info().PID || inner.Info().PID == 0 {
		t.Fatalf("inner agent pid %d, hop pid %d: want a separate agent", inner.Info().PID, hop.Info().PID)
	}
	ch := remoteExec(t, inner, "echo")
	ch.Send([]byte("through the hop"))
	if v := receive(t, ch); string(v.([]byte)) != "through the hop" {
		t.Fatalf("got %v", v)
	}
	pid := inner.Info().PID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inner.Exit(ctx)
	testutil.WaitProcessEnded(t, pid)
}

func TestViaUnknownHop(t *testing.T) {
	grp := NewGroup(WithGatewayOptions(WithAgentPath(testwasm.Agent(t))))
	if _, err := grp.MakeGateway(testCtx(t), "popen//via=nowhere"); err == nil {
		t.Fatal("via a gateway that does not exist: no error")
	}
}
