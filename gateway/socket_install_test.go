package gateway

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childrenOf returns the pids of the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("no /proc to list processes: %v", err)
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // it ended
		}
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// socket//installvia=ID starts a server through gateway ID and connects to
// it; the server ends with the gateway.
//
// execnet: testing/test_xspec.py::TestMakegateway::test_socket_installvia
func TestSocketInstallVia(t *testing.T) {
	g := newGroup(t)
	p1 := makeGateways(t, g, "popen//id=p1")[0]
	gw, err := g.MakeGateway(testCtx(t), "socket//installvia=p1//id=s1")
	if err != nil {
		t.Fatal(err)
	}
	if gw.ID() != "s1" || gw.Spec().Type != "socket" {
		t.Fatalf("got gateway %s of spec %s", gw.ID(), gw.Spec())
	}
	if _, err := gw.RemoteStatus(testCtx(t)); err != nil {
		t.Fatalf("remote status: %v", err)
	}
	ch, err := gw.RemoteExec(testCtx(t), module(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	ch.Send("through the installed server")
	if v := receive(t, ch); v != "through the installed server" {
		t.Fatalf("echo: got %#v", v)
	}
	ch.Close()
	if kids := childrenOf(t, p1.Info().PID); len(kids) != 1 {
		t.Fatalf("p1's agent runs %d processes, want the one server", len(kids))
	}
	if err := gw.Exit(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for len(childrenOf(t, p1.Info().PID)) != 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the server installed through p1 outlived its gateway")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if _, err := g.MakeGateway(testCtx(t), "socket//installvia=nope"); err == nil || !strings.Contains(err.Error(), "names no gateway") {
		t.Fatalf("installvia of an unknown gateway: got %v", err)
	}
}
