package tests

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/sshdtest"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// startServe runs `wasmnet serve` on a free loopback port and returns its
// address; the server is stopped when the test ends.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(testwasm.Agent(t), append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &testutil.SyncBuffer{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("wasmnet serve said %q, %v", line, err)
	}
	return addr
}

func TestSocketGateway(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("SSH_AUTH_SOCK", "")
	clientKey := filepath.Join(dir, "client_key")
	pub := sshdtest.WriteKey(t, clientKey).PublicKey()
	authorized := filepath.Join(dir, "authorized_keys")
	os.WriteFile(authorized, ssh.MarshalAuthorizedKey(pub), 0o600)
	hostKey := filepath.Join(dir, "host_key")
	hostPub := sshdtest.WriteKey(t, hostKey).PublicKey()
	addr := startServe(t, "--host-key", hostKey, "--authorized-keys", authorized)
	knownHosts := filepath.Join(dir, "known_hosts")
	os.WriteFile(knownHosts, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostPub)+"\n"), 0o600)

	spec := "socket=" + addr + "//identity=" + clientKey + "//known_hosts=" + knownHosts
	g := makeGateway(t, spec)
	if got := runEcho(t, g, []any{"over", int64(2), "sockets"}); len(got) != 3 || got[2] != "sockets" {
		t.Fatalf("echo over socket=: %v", got)
	}
	checkWordcount(t, g)

	// Two gateways share one server; each has its own agent.
	g2 := makeGateway(t, spec)
	runEcho(t, g2, []any{"second"})

	t.Run("unauthorized key", func(t *testing.T) {
		other := filepath.Join(dir, "other_key")
		sshdtest.WriteKey(t, other)
		_, err := tryGateway(t, "socket="+addr+"//identity="+other+"//known_hosts="+knownHosts)
		if !errors.Is(err, gateway.ErrAuthRefused) {
			t.Fatalf("got %v, want ErrAuthRefused", err)
		}
	})
	t.Run("unknown host key", func(t *testing.T) {
		empty := filepath.Join(dir, "empty_known_hosts")
		os.WriteFile(empty, nil, 0o600)
		_, err := tryGateway(t, "socket="+addr+"//identity="+clientKey+"//known_hosts="+empty)
		if !errors.Is(err, gateway.ErrHostKeyUnknown) {
			t.Fatalf("got %v, want ErrHostKeyUnknown", err)
		}
	})
	t.Run("plain refused by an ssh server", func(t *testing.T) {
		start := time.Now()
		_, err := tryGateway(t, "socket="+addr+"//insecure_plain")
		if err == nil || time.Since(start) > 10*time.Second {
			t.Fatalf("got %v after %v, want a prompt error", err, time.Since(start))
		}
	})
}

func TestSocketPlainLoopbackOnly(t *testing.T) {
	addr := startServe(t, "--insecure-plain")
	g := makeGateway(t, "socket="+addr+"//insecure_plain")
	runEcho(t, g, []any{"plain"})
	_, err := tryGateway(t, "socket=10.255.255.1:7300//insecure_plain")
	if err == nil || !strings.Contains(err.Error(), "non-loopback") {
		t.Fatalf("got %v, want plain TCP refused for a non-loopback address", err)
	}
	// A server refuses rsync unless told otherwise.
	if _, err := g.RSync(ctxFor(t, time.Minute), t.TempDir(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "refuses rsync") {
		t.Fatalf("rsync to a plain server: got %v", err)
	}
	cmd := exec.Command(testwasm.Agent(t), "serve", "--insecure-plain", "--listen", "0.0.0.0:0")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "loopback") {
		t.Fatalf("serve --insecure-plain on 0.0.0.0: %v, %s", err, out)
	}
}
