//go:build linux

package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/sshdtest"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// TestSpinningGuestResident runs the spinning-guest checks of ssh= and
// socket= on a gateway of the resident agent, with a second gateway of
// the same agent beside it: a guest that computes without calling the
// host stalls neither the agent nor the other gateway, and ends when its
// channel closes.
func TestSpinningGuestResident(t *testing.T) {
	warm(t)
	testutil.ResidentHome(t)
	g := makeGateway(t, "popen//resident")
	other := makeGateway(t, "popen//resident")
	if g.Info().PID != other.Info().PID {
		t.Fatalf("two resident gateways on agents %d and %d", g.Info().PID, other.Info().PID)
	}
	checkSpinning(t, g)
	testutil.WaitStarted(t, remoteExec(t, g, "spin"))
	if got := runEcho(t, other, []any{"beside a spinning guest"}); len(got) != 1 {
		t.Fatalf("echo on another gateway of the agent: %v", got)
	}
	exitGateway(t, g)
	if got := runEcho(t, other, []any{"after Exit of a gateway with a spinning guest"}); len(got) != 1 {
		t.Fatalf("echo after the other gateway's Exit: %v", got)
	}
}

// TestSSHResident makes ssh=HOST//resident gateways in one group: they
// share one resident agent on the host. With streamlocal forwarding the
// only process started there is the one that started the agent; where the
// server forbids it, each gateway runs a bridge to the same agent.
func TestSSHResident(t *testing.T) {
	warm(t)
	for _, tc := range []struct {
		name     string
		config   string
		sessions int // exec sessions sshd starts for four gateways
	}{
		// Short names: the remote socket's path is in the test's
		// temporary directory, and a unix socket's is bounded.
		{"sl", "AllowStreamLocalForwarding yes", 1},
		{"br", "AllowStreamLocalForwarding no", 1 + 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sshServer{sshdtest.Start(t, tc.config)}
			home := filepath.Join(s.RemoteHome, ".cache")
			t.Cleanup(func() { testutil.KillResidents(t, home) })
			client := s.ClientHome(t, false, false)
			kh := filepath.Join(client, "kh")
			if err := os.WriteFile(kh, []byte(s.KnownHostsLine()+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			spec := fmt.Sprintf("ssh=%s@%s//identity=%s//known_hosts=%s//resident", s.User, s.Addr(), s.UserKey, kh)
			grp := gateway.NewGroup(gateway.WithGatewayOptions(gateway.WithAgentPath(agentBin(t)), gateway.WithOutput(&testutil.SyncBuffer{})))
			defer grp.Terminate(10 * time.Second)
			gws, err := grp.MakeGateways(ctxFor(t, time.Minute), "3*"+spec)
			if err != nil {
				t.Fatal(err)
			}
			more, err := grp.MakeGateway(ctxFor(t, time.Minute), spec)
			if err != nil {
				t.Fatal(err)
			}
			gws = append(gws, more)
			pid := gws[0].Info().PID
			for _, g := range gws {
				if g.Info().PID != pid {
					t.Fatalf("resident gateways on agents %d and %d, want one", pid, g.Info().PID)
				}
				if got := runEcho(t, g, []any{"over " + tc.name}); len(got) != 1 {
					t.Fatalf("echo on %s: %v", g.ID(), got)
				}
			}
			if pids := testutil.ResidentPIDs(t, home); len(pids) != 1 || pids[0] != pid {
				t.Fatalf("resident agents on the host: %v, want %d", pids, pid)
			}
			if n := strings.Count(s.Log(), "Starting session: command"); n != tc.sessions {
				t.Fatalf("sshd started %d command sessions for 4 gateways, want %d\n%s", n, tc.sessions, s.Log())
			}
		})
	}
}
