package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wasmnet/wasmnet/internal/sshdtest"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// TestMain fails the run if a test leaves a goroutine behind, and removes
// the ssh stand-in agent the tests built.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		sshdtest.RemoveStandin()
		os.Exit(code)
	}))
}

// standinAgent is an agentBinary that offers the stand-in agent for this
// platform only.
func standinAgent(t *testing.T) func(goos, goarch string) (string, error) {
	path := sshdtest.Standin(t)
	return func(goos, goarch string) (string, error) {
		if goos == runtime.GOOS && goarch == runtime.GOARCH {
			return path, nil
		}
		return "", fmt.Errorf("no stand-in for %s/%s", goos, goarch)
	}
}

func sshSpec(t *testing.T, s string) Spec {
	t.Helper()
	sp, err := ParseSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func dialTest(t *testing.T, spec string) (*link, bootReport, error) {
	t.Helper()
	// The stand-in agent is built first: on a loaded machine its build
	// alone can take the 30 s that bound the dial.
	agent := standinAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, rep, err := dialSSHReport(ctx, sshSpec(t, spec), agent, nil)
	if err == nil {
		t.Cleanup(func() { l.kill(); l.wait() })
	}
	return l, rep, err
}

// roundTrip writes a line through l and reads it back.
func roundTrip(t *testing.T, l *link, r *bufio.Reader) {
	t.Helper()
	msg := fmt.Sprintf("hello %d\n", time.Now().UnixNano())
	if _, err := io.WriteString(l.conn, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := r.ReadString('\n')
	if err != nil || got != msg {
		t.Fatalf("read %q, %v; want %q (stderr %q)", got, err, msg, l.stderr)
	}
}

// closeAndWait closes the agent's stdin and waits for it to exit.
func closeAndWait(t *testing.T, l *link) {
	t.Helper()
	l.conn.Close()
	done := make(chan error, 1)
	go func() { done <- l.wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not exit 10s after its stdin closed")
	}
}

func TestSSHUploadThenCached(t *testing.T) {
	s := sshdtest.Start(t)
	s.ClientHome(t, true, true)
	spec := "ssh=" + s.User + "@" + s.Addr()

	l, rep, err := dialTest(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Uploaded || rep.GOOS != runtime.GOOS || rep.GOARCH != runtime.GOARCH {
		t.Errorf("first connect: report %+v, want an upload for %s/%s", rep, runtime.GOOS, runtime.GOARCH)
	}
	if !strings.HasPrefix(rep.Agent, s.RemoteHome+"/.cache/wasmnet/agent-") {
		t.Errorf("agent at %q, want it in %s/.cache/wasmnet", rep.Agent, s.RemoteHome)
	}
	roundTrip(t, l, bufio.NewReader(l.conn))
	closeAndWait(t, l)

	l, rep, err = dialTest(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Uploaded {
		t.Errorf("second connect uploaded again: %+v", rep)
	}
	roundTrip(t, l, bufio.NewReader(l.conn))
	closeAndWait(t, l)
	// One exec per connect, the upload included.
	if n := strings.Count(s.Log(), "Starting session: command"); n != 2 {
		t.Errorf("sshd started %d sessions for two connects, want 2", n)
	}
}

func TestSSHConcurrentBootstraps(t *testing.T) {
	s := sshdtest.Start(t)
	s.ClientHome(t, true, true)
	spec := "ssh=" + s.User + "@" + s.Addr()
	const n = 4
	agent := standinAgent(t) // built now, not in the timed part
	errs := make(chan error, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			l, _, err := dialSSHReport(ctx, sshSpec(t, spec), agent, nil)
			if err != nil {
				errs <- err
				return
			}
			defer l.wait()
			defer l.conn.Close()
			msg := "concurrent\n"
			io.WriteString(l.conn, msg)
			got, err := bufio.NewReader(l.conn).ReadString('\n')
			if got != msg {
				err = fmt.Errorf("read %q, %v", got, err)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(s.RemoteHome, ".cache/wasmnet/.agent-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left in the cache: %v", left)
	}
}

func TestSSHChdirEnv(t *testing.T) {
	s := sshdtest.Start(t)
	s.ClientHome(t, true, true)
	dir := filepath.Join(t.TempDir(), "new", "work dir")
	l, _, err := dialTest(t, "ssh="+s.User+"@"+s.Addr()+"//chdir="+dir+"//env:STANDIN_SAY=it's here")
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(l.conn)
	got, err := r.ReadString('\n')
	if want := "cwd=" + dir + " say=it's here\n"; got != want {
		t.Fatalf("agent said %q, %v; want %q", got, err, want)
	}
	roundTrip(t, l, r)
	closeAndWait(t, l)
}

func TestSSHAgentStartFails(t *testing.T) {
	s := sshdtest.Start(t)
	s.ClientHome(t, true, true)
	l, _, err := dialTest(t, "ssh="+s.User+"@"+s.Addr()+"//env:STANDIN_FAIL=no luck today")
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.conn.Read(make([]byte, 1))
	var se *AgentStartError
	if !errors.As(err, &se) || !errors.Is(err, ErrAgentStart) || !strings.Contains(err.Error(), "no luck today") {
		t.Fatalf("read: %v; want an *AgentStartError with the agent's stderr", err)
	}
	t.Log(err)
}

func TestSSHHostKeys(t *testing.T) {
	s := sshdtest.Start(t)
	other := sshdtest.Start(t) // its host key is the wrong one for s
	spec := "ssh=" + s.User + "@" + s.Addr()

	t.Run("Unknown", func(t *testing.T) {
		s.ClientHome(t, false, true)
		_, _, err := dialTest(t, spec)
		if !errors.Is(err, ErrHostKeyUnknown) || !strings.Contains(err.Error(), "ssh-keyscan -p "+s.Port) ||
			!strings.Contains(err.Error(), "insecure_ignore_host_key") {
			t.Fatalf("got %v; want ErrHostKeyUnknown naming ssh-keyscan and the option", err)
		}
		t.Log(err)
	})
	t.Run("Insecure", func(t *testing.T) {
		s.ClientHome(t, false, true)
		l, _, err := dialTest(t, spec+"//insecure_ignore_host_key")
		if err != nil {
			t.Fatal(err)
		}
		closeAndWait(t, l)
	})
	t.Run("Mismatch", func(t *testing.T) {
		home := s.ClientHome(t, false, true)
		line := strings.Replace(other.KnownHostsLine(), other.Port, s.Port, 1)
		os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(line+"\n"), 0o600)
		_, _, err := dialTest(t, spec)
		if !errors.Is(err, ErrHostKeyMismatch) || !strings.Contains(err.Error(), "host key does not match") {
			t.Fatalf("got %v; want ErrHostKeyMismatch", err)
		}
		t.Log(err)
	})
	t.Run("KnownHostsOption", func(t *testing.T) {
		s.ClientHome(t, false, true)
		kh := filepath.Join(t.TempDir(), "kh")
		os.WriteFile(kh, []byte(s.KnownHostsLine()+"\n"), 0o600)
		l, _, err := dialTest(t, spec+"//known_hosts="+kh)
		if err != nil {
			t.Fatal(err)
		}
		closeAndWait(t, l)
	})
}

func TestSSHAgentAuth(t *testing.T) {
	s := sshdtest.Start(t)
	s.ClientHome(t, true, false) // no identity file: only the agent has the key
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatalf("ssh-agent: %v", err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	testutil.WaitFor(t, "ssh-agent's socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})
	t.Setenv("SSH_AUTH_SOCK", sock)
	if out, err := exec.Command("ssh-add", s.UserKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
	l, _, err := dialTest(t, "ssh="+s.User+"@"+s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, l, bufio.NewReader(l.conn))
	closeAndWait(t, l)
}

func TestSSHConfigAlias(t *testing.T) {
	s := sshdtest.Start(t)
	home := s.ClientHome(t, true, false)
	key := filepath.Join(home, "keys", "k")
	os.MkdirAll(filepath.Dir(key), 0o700)
	b, _ := os.ReadFile(s.UserKey)
	os.WriteFile(key, b, 0o600)
	cfg := fmt.Sprintf("Host other\n  HostName 192.0.2.1\n\nHost box\n  HostName %s\n  Port %s\n  User %s\n  IdentityFile ~/keys/k\n", s.Host, s.Port, s.User)
	os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(cfg), 0o600)
	l, _, err := dialTest(t, "ssh=box")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, l, bufio.NewReader(l.conn))
	closeAndWait(t, l)
}

func TestSSHProxyJump(t *testing.T) {
	jump := sshdtest.Start(t)
	s := sshdtest.Start(t)
	home := s.ClientHome(t, true, false)
	kh := s.KnownHostsLine() + "\n" + jump.KnownHostsLine() + "\n"
	os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(kh), 0o600)
	// Both servers accept one key: give jump's authorized_keys s's key.
	b, _ := os.ReadFile(filepath.Join(s.Dir, "authorized_keys"))
	os.WriteFile(filepath.Join(jump.Dir, "authorized_keys"), b, 0o600)
	cfg := fmt.Sprintf("Host bastion\n  HostName %s\n  Port %s\n\nHost inner\n  HostName %s\n  Port %s\n  ProxyJump bastion\n",
		jump.Host, jump.Port, s.Host, s.Port)
	os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(cfg), 0o600)
	l, _, err := dialTest(t, "ssh=inner//identity="+s.UserKey)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, l, bufio.NewReader(l.conn))
	closeAndWait(t, l)
	if !strings.Contains(jump.Log(), "Accepted publickey") {
		t.Errorf("the jump host saw no login:\n%s", jump.Log())
	}
}

// TestSSHFailures checks that each failure is told apart, quickly.
func TestSSHFailures(t *testing.T) {
	s := sshdtest.Start(t)
	closed := sshdtest.FreePort(t)
	tests := []struct {
		name string
		spec string
		want error
		text string
	}{
		{"ClosedPort", "ssh=" + s.User + "@127.0.0.1:" + closed + "//insecure_ignore_host_key", ErrHostUnreachable, "connection refused"},
		{"WrongUser", "ssh=nosuchuser@" + s.Addr(), ErrAuthRefused, "nosuchuser"},
		{"MissingIdentity", "ssh=" + s.User + "@" + s.Addr() + "//identity=/nonexistent/id", os.ErrNotExist, "identity file /nonexistent/id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.ClientHome(t, true, true)
			start := time.Now()
			_, _, err := dialTest(t, tt.spec)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("got %v; want %v mentioning %q", err, tt.want, tt.text)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			t.Log(err)
		})
	}
}

func TestSSHConnectTimeout(t *testing.T) {
	// A listener that accepts and never speaks: the handshake hangs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SSH_AUTH_SOCK", "")
	sshdtest.Standin(t) // built now, not in the timed part
	start := time.Now()
	_, _, err = dialTest(t, "ssh="+ln.Addr().String()+"//connect_timeout=500ms//insecure_ignore_host_key")
	if !errors.Is(err, ErrHostUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v; want ErrHostUnreachable and a deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v with connect_timeout=500ms", d)
	}
	t.Log(err)
}

func TestSSHKill(t *testing.T) {
	s := sshdtest.Start(t)
	s.ClientHome(t, true, true)
	l, _, err := dialTest(t, "ssh="+s.User+"@"+s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, l, bufio.NewReader(l.conn))
	l.kill()
	done := make(chan struct{})
	go func() { l.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not return 5s after kill")
	}
	if _, err := l.conn.Write([]byte("x")); err == nil {
		t.Error("write after kill succeeded")
	}
}

func TestSSHNoPOSIXShell(t *testing.T) {
	// What a Windows OpenSSH server running cmd.exe answers.
	s := sshdtest.Start(t, `ForceCommand echo The system cannot find the path specified. >&2; exit 1`)
	s.ClientHome(t, true, true)
	_, _, err := dialTest(t, "ssh="+s.User+"@"+s.Addr())
	if !errors.Is(err, ErrNoPOSIXShell) || !strings.Contains(err.Error(), "cannot find the path") {
		t.Fatalf("got %v; want ErrNoPOSIXShell with the remote stderr", err)
	}
	t.Log(err)
}

func TestSSHNoAgentForPlatform(t *testing.T) {
	s := sshdtest.Start(t)
	s.ClientHome(t, true, true)
	none := func(goos, goarch string) (string, error) {
		return "", fmt.Errorf("no agent binary for %s/%s; run make agents", goos, goarch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, err := dialSSHReport(ctx, sshSpec(t, "ssh="+s.User+"@"+s.Addr()), none, nil)
	if !errors.Is(err, ErrUploadFailed) || !strings.Contains(err.Error(), "make agents") {
		t.Fatalf("got %v; want ErrUploadFailed saying to run make agents", err)
	}
	t.Log(err)
}
