//go:build unix

package gateway

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestAgentLeavesASilentClient suspends a client process (SIGSTOP): its
// agent, which hears no more pings, stops its guest and exits.
func TestAgentLeavesASilentClient(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSilentClient$")
	cmd.Env = append(os.Environ(), "WASMNET_HELPER_SILENT="+testwasm.Agent(t), "WASMNET_HELPER_SLEEPER="+testwasm.Go(t, "sleeper"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // SIGKILL ends a stopped process too
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper client said nothing: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "agent pid "))
	if err != nil {
		t.Fatalf("helper client said %q", line)
	}
	// The client is alive and pinging: its agent outlives its timeout.
	time.Sleep(3 * time.Second)
	if !testutil.ProcessRunning(pid) {
		t.Fatalf("agent %d ended while its client was alive", pid)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	testutil.WaitProcessEnded(t, pid)
}

// TestHelperSilentClient is the client TestAgentLeavesASilentClient
// suspends; it does nothing in a normal test run.
func TestHelperSilentClient(t *testing.T) {
	agent := os.Getenv("WASMNET_HELPER_SILENT")
	if agent == "" {
		return
	}
	g, err := Make(testCtx(t), "exec="+agent+" agent --keepalive-timeout 1s --no-cache")
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadModule(os.Getenv("WASMNET_HELPER_SLEEPER"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.RemoteExec(testCtx(t), m); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("agent pid " + strconv.Itoa(g.Info().PID) + "\n")
	time.Sleep(time.Minute)
}
