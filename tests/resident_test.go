//go:build linux

package tests

import (
	"testing"

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
