package gateway

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// A group starts its default spec when MakeGateway is given none; a bad
// default is refused when it is set, not at the next start.
//
// execnet: testing/test_multi.py::TestGroup::test_group_default_spec
func TestGroupDefaultSpec(t *testing.T) {
	g := newGroup(t)
	if got := g.DefaultSpec(); got != "popen" {
		t.Fatalf("DefaultSpec: got %q, want popen", got)
	}
	for _, bad := range []string{"not-existing-type", "2*popen", "popen//nosuchkey=1"} {
		if err := g.SetDefaultSpec(bad); err == nil {
			t.Errorf("SetDefaultSpec(%q) succeeded", bad)
		}
	}
	if got := g.DefaultSpec(); got != "popen" {
		t.Fatalf("a refused default changed DefaultSpec to %q", got)
	}
	if err := g.SetDefaultSpec("popen//id=dflt"); err != nil {
		t.Fatal(err)
	}
	gw, err := g.MakeGateway(testCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if gw.ID() != "dflt" || g.Gateway("dflt") != gw {
		t.Fatalf("MakeGateway with no spec started %s, want the default spec's gateway dflt", gw.ID())
	}
}

// Gateways made by Make are members of the default group until they end,
// and a via= given to Make names one of them.
//
// execnet: testing/test_multi.py::TestGroup::test_default_group
func TestDefaultGroup(t *testing.T) {
	before := DefaultGroup().Gateways()
	hop := popen(t, "popen//id=dghop")
	after := DefaultGroup().Gateways()
	if len(after) != len(before)+1 || !slices.Contains(after, hop) || slices.Contains(before, hop) {
		t.Fatalf("default group before %v, after %v: want it to gain the new gateway", ids(before), ids(after))
	}
	if DefaultGroup().Gateway("dghop") != hop {
		t.Fatal("the default group does not find the gateway by its id")
	}
	inner := popen(t, "popen//id=dginner//via=dghop")
	if pp := parentPID(t, inner.Info().PID); pp != hop.Info().PID {
		t.Errorf("inner's agent has parent %d, want the hop's agent %d", pp, hop.Info().PID)
	}
	if err := hop.Exit(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(DefaultGroup().Gateways(), hop) {
		t.Fatal("a gateway that exited is still in the default group")
	}
}

// The default spec and the default group are safe for concurrent use.
func TestDefaultGroupConcurrent(t *testing.T) {
	g := NewGroup()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				g.SetDefaultSpec(fmt.Sprintf("popen//id=w%d-%d", i, j))
				_ = g.DefaultSpec()
				_ = DefaultGroup().Gateways()
				_ = DefaultGroup().Gateway("none")
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("concurrent use hung")
	}
}
