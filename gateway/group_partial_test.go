package gateway

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// newPartialGroup is newGroup with a minimum of gateways to start.
func newPartialGroup(t *testing.T, opt GroupOption) *Group {
	t.Helper()
	g := NewGroup(WithGatewayOptions(WithAgentPath(testwasm.Agent(t)), WithOutput(&testutil.SyncBuffer{})), opt)
	t.Cleanup(func() { g.Terminate(5 * time.Second) })
	return g
}

// TestGroupMinGatewaysKeepsThoseStarted: one bad spec of four costs its
// gateway and the one behind it, not the others; the error names both and
// why, and the group holds the others, numbered as they were asked for.
func TestGroupMinGatewaysKeepsThoseStarted(t *testing.T) {
	g := newPartialGroup(t, WithMinGateways(2))
	bad := "popen//agent=/nonexistent/wasmnet"
	gws, err := g.MakeGateways(testCtx(t), "popen", bad+"//id=hop", "popen//id=behind//via=hop", "popen")
	var serr *StartError
	if !errors.As(err, &serr) {
		t.Fatalf("got %v, want a *StartError", err)
	}
	if got, want := ids(gws), []string{"gw0", "gw1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("started %v, want %v", got, want)
	}
	if got := ids(g.Gateways()); !reflect.DeepEqual(got, []string{"gw0", "gw1"}) {
		t.Fatalf("group holds %v, want [gw0 gw1]", got)
	}
	if serr.Started != 2 || serr.Asked != 4 || len(serr.Failed) != 2 ||
		serr.Failed[0].ID != "hop" || serr.Failed[1].ID != "behind" || serr.Failed[1].Index != 2 {
		t.Fatalf("StartError %+v", serr)
	}
	for _, want := range []string{"2 of 4 gateways did not start", bad, "via=hop: that gateway did not start"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, gw := range gws {
		checkAgentAlive(t, gw)
	}
}

// TestGroupMinGatewaysTooFew: fewer than the minimum is an error that
// leaves the group as it was, and still names every failed start.
func TestGroupMinGatewaysTooFew(t *testing.T) {
	g := newPartialGroup(t, WithMinGatewaysFraction(0.9))
	bad := "popen//agent=/nonexistent/wasmnet"
	gws, err := g.MakeGateways(testCtx(t), "8*popen", bad, bad)
	var serr *StartError
	if !errors.As(err, &serr) || gws != nil {
		t.Fatalf("got %d gateways, %v; want none and a *StartError", len(gws), err)
	}
	if serr.Min != 9 || !strings.Contains(err.Error(), "fewer than the 9 wanted") {
		t.Errorf("error %q (min %d): want 9 of 10 wanted", err, serr.Min)
	}
	if n := len(g.Gateways()); n != 0 {
		t.Fatalf("group holds %d gateways after too few started", n)
	}
}

// TestGroupMinGatewaysNone: a minimum of 0 returns what started, even
// nothing, with the reasons.
func TestGroupMinGatewaysNone(t *testing.T) {
	g := newPartialGroup(t, WithMinGateways(0))
	gws, err := g.MakeGateways(testCtx(t), "popen//agent=/nonexistent/wasmnet")
	var serr *StartError
	if !errors.As(err, &serr) || len(gws) != 0 || len(serr.Failed) != 1 || serr.Failed[0].ID != "gw0" {
		t.Fatalf("got %d gateways, %v", len(gws), err)
	}
	if gws := makeGateways(t, g, "2*popen"); !reflect.DeepEqual(ids(gws), []string{"gw1", "gw2"}) {
		t.Fatalf("then %v", ids(gws))
	}
}

func TestMinStarted(t *testing.T) {
	for _, tc := range []struct {
		opt  GroupOption
		n    int
		want int
	}{
		{WithMinGateways(3), 8, 3}, {WithMinGateways(30), 8, 8}, {WithMinGateways(-1), 8, 0},
		{WithMinGatewaysFraction(0.9), 64, 58}, {WithMinGatewaysFraction(0.5), 8, 4},
		{WithMinGatewaysFraction(1), 7, 7}, {WithMinGatewaysFraction(2), 7, 7}, {WithMinGatewaysFraction(0.01), 1, 1},
	} {
		var c groupConfig
		tc.opt(&c)
		if got := c.minStarted(tc.n); got != tc.want {
			t.Errorf("%+v of %d: %d, want %d", c, tc.n, got, tc.want)
		}
	}
}
