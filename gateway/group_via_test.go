package gateway

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// parentPID reads the parent of pid from /proc (Linux).
func parentPID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Skipf("no /proc to check process parents: %v", err)
	}
	// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}

// TestGroupViaInOneBatch starts hops and the gateways behind them in one
// MakeGateways, in either order of specs, as `wasmnet run -g A -g B` does.
func TestGroupViaInOneBatch(t *testing.T) {
	g := newGroup(t)
	gws := makeGateways(t, g, "popen//id=inner//via=hop", "popen//id=hop", "popen//id=third//via=inner")
	if got := ids(gws); !reflect.DeepEqual(got, []string{"inner", "hop", "third"}) {
		t.Fatalf("gateways %v, want the order of the specs", got)
	}
	// A via=popen agent is a child of its hop's agent.
	if pp := parentPID(t, gws[0].Info().PID); pp != gws[1].Info().PID {
		t.Errorf("inner's agent has parent %d, want hop's agent %d", pp, gws[1].Info().PID)
	}
	if pp := parentPID(t, gws[2].Info().PID); pp != gws[0].Info().PID {
		t.Errorf("third's agent has parent %d, want inner's agent %d", pp, gws[0].Info().PID)
	}
	for _, gw := range gws {
		checkAgentAlive(t, gw)
	}
}

func TestGroupViaCycleAndUnknown(t *testing.T) {
	g := newGroup(t)
	for _, specs := range [][]string{
		{"popen//id=a//via=b", "popen//id=b//via=a"},
		{"popen//id=self//via=self"},
		{"popen//id=x", "popen//id=c//via=d", "popen//id=d//via=e", "popen//id=e//via=c"},
	} {
		_, err := g.MakeGateways(testCtx(t), specs...)
		if err == nil || !strings.Contains(err.Error(), "cycle") {
			t.Errorf("%q: got %v, want a cycle error", specs, err)
		}
	}
	_, err := g.MakeGateways(testCtx(t), "popen//id=x", "popen//via=nope")
	if err == nil || !strings.Contains(err.Error(), `no gateway "nope"`) {
		t.Errorf("via=nope: got %v", err)
	}
	if n := len(g.Gateways()); n != 0 {
		t.Errorf("group holds %d gateways after failed makes", n)
	}
	// The ids are free again and nothing was started.
	makeGateways(t, g, "popen//id=a", "popen//id=b//via=a")
}
