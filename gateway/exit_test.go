package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestExitReportsAnAgentThatDidNotStop starts an agent through a shell
// that lingers after it: Exit has to kill it, and says so.
func TestExitReportsAnAgentThatDidNotStop(t *testing.T) {
	spec := "exec=sh -c '\"$0\" agent; exec sleep 60' " + testwasm.Agent(t)
	g, err := Make(testCtx(t), spec, WithOutput(&testutil.SyncBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	err = g.Exit(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "was killed") {
		t.Fatalf("Exit of a lingering agent: %v, want an error saying it was killed", err)
	}
	// And one that stops as asked reports nothing.
	g, err = Make(testCtx(t), "exec="+testwasm.Agent(t)+" agent", WithOutput(&testutil.SyncBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Exit(context.Background()); err != nil {
		t.Fatalf("Exit: %v", err)
	}
}
