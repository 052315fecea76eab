package gateway

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/sshdtest"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestSSHConnectionReuse starts 12 gateways on one host at once, with an
// empty agent cache: they share two SSH connections (sshd allows 10
// sessions on one), the agent is uploaded once, and every gateway works.
func TestSSHConnectionReuse(t *testing.T) {
	agent := testwasm.Agent(t)
	s := sshdtest.Start(t)
	s.ClientHome(t, true, true)
	g := NewGroup(WithGatewayOptions(WithAgentPath(agent), WithOutput(&testutil.SyncBuffer{})))
	defer g.Terminate(10 * time.Second)
	// Generous: the first gateway compresses and uploads the agent, which
	// takes long under the race detector on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	gws, err := g.MakeGateways(ctx, "12*ssh="+s.User+"@"+s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	uploads := 0
	for _, gw := range gws {
		if gw.Uploaded() {
			uploads++
		}
	}
	if uploads != 1 {
		t.Errorf("%d gateways uploaded the agent; want 1", uploads)
	}
	m := module(t, "echo")
	var wg sync.WaitGroup
	for _, gw := range gws {
		wg.Go(func() {
			ch, err := gw.RemoteExec(testCtx(t), m)
			if err != nil {
				t.Error(err)
				return
			}
			defer ch.Close()
			ch.Send(gw.ID())
			if v, err := ch.Receive(testCtx(t)); err != nil || v != gw.ID() {
				t.Errorf("%s: echo %v, %v", gw.ID(), v, err)
			}
		})
	}
	wg.Wait()
	log := s.Log()
	if n := strings.Count(log, "Accepted publickey"); n != 2 {
		t.Errorf("sshd accepted %d logins for 12 gateways; want 2 (10 sessions each at most)", n)
	}
	if n := strings.Count(log, "Starting session: command"); n != 12 {
		t.Errorf("sshd started %d sessions; want 12", n)
	}
	if err := g.Terminate(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}
