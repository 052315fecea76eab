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
	cmd, pid := startHelperClient(t, "1s", testwasm.Go(t, "sleeper"))
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

// TestAgentLeavesADeadClient kills a client process while its guest
// computes without end: with no keepalive timeout to help, the agent's
// stdin closing (and its stdout breaking) is what ends the agent, guest
// and all. With SIGPIPE ignored nothing kills it for writing.
func TestAgentLeavesADeadClient(t *testing.T) {
	cmd, pid := startHelperClient(t, "0", testwasm.Go(t, "spin"))
	if !testutil.ProcessRunning(pid) {
		t.Fatalf("agent %d ended while its client was alive", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	testutil.WaitProcessEnded(t, pid)
}

// startHelperClient runs TestHelperSilentClient in a process of its own,
// with an agent enforcing keepAlive and running module, and returns it and
// the agent's pid.
func startHelperClient(t *testing.T, keepAlive, module string) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSilentClient$")
	cmd.Env = append(os.Environ(), "WASMNET_HELPER_SILENT="+testwasm.Agent(t),
		"WASMNET_HELPER_MODULE="+module, "WASMNET_HELPER_KEEPALIVE="+keepAlive)
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
	return cmd, pid
}

// TestHelperSilentClient is the client TestAgentLeavesASilentClient
// suspends and TestAgentLeavesADeadClient kills; it does nothing in a
// normal test run.
func TestHelperSilentClient(t *testing.T) {
	agent := os.Getenv("WASMNET_HELPER_SILENT")
	if agent == "" {
		return
	}
	g, err := Make(testCtx(t), "exec="+agent+" agent --keepalive-timeout "+os.Getenv("WASMNET_HELPER_KEEPALIVE")+" --no-cache")
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadModule(os.Getenv("WASMNET_HELPER_MODULE"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.RemoteExec(testCtx(t), m); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("agent pid " + strconv.Itoa(g.Info().PID) + "\n")
	time.Sleep(time.Minute)
}
