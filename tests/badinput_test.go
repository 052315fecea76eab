package tests

// Bad gateway specs and hosts: each fails Make with a clear error within
// 10 s, and leaves no process behind.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/sshdtest"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// makeFails runs Make with a ctx of ctxTime, wants an error that matches
// want (when not nil) and mentions every text, within 10 s.
func makeFails(t *testing.T, spec string, ctxTime time.Duration, want error, texts ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ctxTime)
	defer cancel()
	var g *gateway.Gateway
	var err error
	within(t, 10*time.Second, "Make("+spec+")", func() {
		g, err = gateway.Make(ctx, spec, gateway.WithAgentPath(agentBin(t)), gateway.WithOutput(&testutil.SyncBuffer{}))
	})
	if err == nil {
		exitGateway(t, g)
		t.Fatalf("Make(%q) succeeded; want an error", spec)
	}
	if want != nil && !errors.Is(err, want) {
		t.Errorf("Make(%q): %v; want an error matching %v", spec, err, want)
	}
	for _, s := range texts {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Make(%q): %v; want it to mention %q", spec, err, s)
		}
	}
	t.Log(err)
	return err
}

func TestBadSSH(t *testing.T) {
	warm(t)
	s := startSSHD(t)
	pidFile, err := os.ReadFile(filepath.Join(s.Dir, "sshd.pid"))
	if err != nil {
		t.Fatalf("sshd's pid file: %v", err)
	}
	sshdPid, _ := strconv.Atoi(strings.TrimSpace(string(pidFile)))
	closed := sshdtest.FreePort(t)
	tests := []struct {
		name  string
		spec  string
		want  error
		texts []string
	}{
		{"ClosedPort", "ssh=" + s.User + "@127.0.0.1:" + closed, gateway.ErrHostUnreachable, []string{"127.0.0.1:" + closed, "connection refused"}},
		{"WrongUser", "ssh=nosuchuser@" + s.Addr(), gateway.ErrAuthRefused, []string{"nosuchuser"}},
		{"MissingIdentity", "ssh=" + s.User + "@" + s.Addr() + "//identity=/nonexistent/id_ed25519", os.ErrNotExist, []string{"identity file /nonexistent/id_ed25519"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.ClientHome(t, true, true)
			makeFails(t, tt.spec, 30*time.Second, tt.want, tt.texts...)
			// sshd forks a process per connection: it must go with the
			// failed login.
			if !testutil.Poll(5*time.Second, func() bool { return len(descendants(sshdPid)) == 0 }) {
				t.Errorf("sshd (pid %d) still has connection processes %v 5s after the failure", sshdPid, descendants(sshdPid))
			}
			if left := procsMatching(s.agentProcs()); len(left) > 0 {
				t.Errorf("agents started: %v", left)
			}
		})
	}
}

func TestBadExec(t *testing.T) {
	warm(t)
	t.Run("MissingCommand", func(t *testing.T) {
		makeFails(t, "exec=/nonexistent/wasmnet agent", 10*time.Second, os.ErrNotExist, "/nonexistent/wasmnet")
		makeFails(t, "exec=no-such-wasmnet-command agent", 10*time.Second, nil, "no-such-wasmnet-command", "not found")
	})
	t.Run("AgentExits", func(t *testing.T) {
		makeFails(t, `exec=sh -c 'echo no agent here >&2; exit 3'`, 10*time.Second, gateway.ErrAgentStart, "no agent here")
	})
	// A command that prints something other than the protocol and then
	// lingers, as a shell's "command not found" might before exiting.
	t.Run("GarbageLong", func(t *testing.T) {
		pids := filepath.Join(t.TempDir(), "pids")
		spec := `exec=sh -c 'sleep 30 & echo $$ $! > ` + pids + `; echo "sh: 1: wasmnet: not found, or something else entirely"; wait'`
		makeFails(t, spec, 30*time.Second, nil, "did not start with a wasmnet hello", "wasmnet: not found")
		checkGone(t, pids)
	})
	// Fewer bytes than a frame header: only Make's ctx ends the wait.
	t.Run("GarbageShort", func(t *testing.T) {
		pids := filepath.Join(t.TempDir(), "pids")
		spec := `exec=sh -c 'sleep 30 & echo $$ $! > ` + pids + `; echo garbage; wait'`
		makeFails(t, spec, 3*time.Second, context.DeadlineExceeded, "hello")
		checkGone(t, pids)
	})
}

// checkGone reads the pids the shell wrote to file and checks that the
// shell and its sleep are gone: Make killed the whole process group.
func checkGone(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	f := strings.Fields(string(b))
	if err != nil || len(f) != 2 {
		t.Fatalf("the command wrote %q, %v; want the pids of sh and sleep", b, err)
	}
	for i, what := range []string{"sh", "sleep 30"} {
		pid, _ := strconv.Atoi(f[i])
		waitGone(t, pid, what, 5*time.Second)
	}
}
