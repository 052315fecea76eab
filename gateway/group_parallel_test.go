package gateway

import (
	"context"
	"fmt"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestGroupStartsInParallel proves MakeGateways starts agents at once, not
// one after another, without timing anything: each start waits at a
// barrier until all of them have begun, so a sequential start could never
// finish its first gateway and would run into the deadline.
func TestGroupStartsInParallel(t *testing.T) {
	const n = 8
	barrier := t.TempDir()
	agent := testwasm.Agent(t)
	cmd := fmt.Sprintf(`exec=sh -c 'touch %s/$$; while [ $(ls %s | wc -l) -lt %d ]; do sleep 0.01; done; exec %s agent'`,
		barrier, barrier, n, agent)
	g := newGroup(t)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	defer cancel()
	gws, err := g.MakeGateways(ctx, fmt.Sprintf("%d*%s", n, cmd))
	if err != nil {
		t.Fatalf("starting %d gateways that wait for each other: %v", n, err)
	}
	if len(gws) != n {
		t.Fatalf("got %d gateways", len(gws))
	}
	for _, gw := range gws {
		ch := remoteExec(t, gw, "echo")
		ch.Send(gw.ID())
		if v := receive(t, ch); v != gw.ID() {
			t.Fatalf("%s echoed %v", gw.ID(), v)
		}
	}
}
