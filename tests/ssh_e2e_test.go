package tests

// ssh= gateways end to end: a real OpenSSH sshd on 127.0.0.1, the real
// agent uploaded by the bootstrap, and guests run through gateway.Make.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// agentCache is where the bootstrap installs agents on s.
func (s *sshServer) agentCache() string {
	return filepath.Join(s.RemoteHome, ".cache", "wasmnet")
}

// agentProcs is what /proc shows of the agents started from s's cache.
func (s *sshServer) agentProcs() string { return filepath.Join(s.agentCache(), "agent-") }

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestSSHEndToEnd: the first connect uploads the agent, the second finds
// it cached, and both run wordcount with internal/wordcount's answer.
func TestSSHEndToEnd(t *testing.T) {
	warm(t)
	s := startSSHD(t)
	home := s.ClientHome(t, false, false) // only what the spec names
	kh := filepath.Join(home, "kh")
	if err := os.WriteFile(kh, []byte(s.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := fmt.Sprintf("ssh=%s@%s//identity=%s//known_hosts=%s", s.User, s.Addr(), s.UserKey, kh)
	agent := agentBin(t)

	g := makeGateway(t, spec)
	if !g.Uploaded() {
		t.Error("first connect: Uploaded() = false; the fresh remote cache should have made the bootstrap upload")
	}
	st, err := g.RemoteStatus(ctxFor(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.OS != runtime.GOOS || st.Arch != runtime.GOARCH {
		t.Errorf("remote status says %s/%s, want %s/%s", st.OS, st.Arch, runtime.GOOS, runtime.GOARCH)
	}
	checkWordcount(t, g)
	exitGateway(t, g)
	waitNoProcs(t, s.agentProcs(), 5*time.Second)

	cached := filepath.Join(s.agentCache(), "agent-"+fileSHA256(t, agent))
	if fi, err := os.Stat(cached); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("the uploaded agent is not at %s as an executable: %v", cached, err)
	}
	if got := fileSHA256(t, cached); got != fileSHA256(t, agent) {
		t.Fatalf("the cached agent's sha256 is %s, the local agent's %s", got, fileSHA256(t, agent))
	}

	g = makeGateway(t, spec)
	if g.Uploaded() {
		t.Error("second connect: Uploaded() = true; the agent was cached")
	}
	checkWordcount(t, g)
	exitGateway(t, g)
	waitNoProcs(t, s.agentProcs(), 5*time.Second)
}

// TestSSHHostKeysMake: known_hosts decides through Make as in ssh, and a
// host it does not vouch for runs nothing.
func TestSSHHostKeysMake(t *testing.T) {
	warm(t)
	s := startSSHD(t)
	other := startSSHD(t) // its host key is the wrong one for s
	spec := "ssh=" + s.User + "@" + s.Addr()

	t.Run("DefaultKnownHosts", func(t *testing.T) {
		s.ClientHome(t, true, true)
		g := makeGateway(t, spec)
		items := []any{"a", int64(2), []byte{3}}
		if got := runEcho(t, g, items); !reflect.DeepEqual(got, items) {
			t.Fatalf("echo: %v, want %v", got, items)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		s.ClientHome(t, false, true)
		_, err := tryGateway(t, spec)
		if !errors.Is(err, gateway.ErrHostKeyUnknown) {
			t.Fatalf("got %v; want ErrHostKeyUnknown", err)
		}
		t.Log(err)
	})
	t.Run("Mismatch", func(t *testing.T) {
		home := s.ClientHome(t, false, true)
		kh := filepath.Join(home, ".ssh", "known_hosts")
		// other's key under s's address: what a man in the middle shows.
		line := strings.Replace(other.KnownHostsLine(), "]:"+other.Port+" ", "]:"+s.Port+" ", 1)
		os.WriteFile(kh, []byte(line+"\n"), 0o600)
		_, err := tryGateway(t, spec)
		if !errors.Is(err, gateway.ErrHostKeyMismatch) {
			t.Fatalf("got %v; want ErrHostKeyMismatch", err)
		}
		t.Log(err)
	})
	t.Run("Insecure", func(t *testing.T) {
		s.ClientHome(t, false, true)
		g := makeGateway(t, spec+"//insecure_ignore_host_key")
		runPrimes(t, g, [][2]int64{{0, 1000}})
	})
	waitNoProcs(t, s.agentProcs(), 5*time.Second)
}

// TestSSHAgentAuthMake logs in with a key that only an ssh-agent holds.
func TestSSHAgentAuthMake(t *testing.T) {
	warm(t)
	s := startSSHD(t)
	s.ClientHome(t, true, false) // no identity file
	sock := filepath.Join(t.TempDir(), "agent.sock")
	sshAgent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := sshAgent.Start(); err != nil {
		t.Fatalf("ssh-agent (apt-get install -y openssh-client): %v", err)
	}
	t.Cleanup(func() { sshAgent.Process.Kill(); sshAgent.Wait() })
	testutil.WaitFor(t, "ssh-agent's socket at "+sock, func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})
	t.Setenv("SSH_AUTH_SOCK", sock)
	if out, err := exec.Command("ssh-add", s.UserKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
	g := makeGateway(t, "ssh="+s.User+"@"+s.Addr())
	checkWordcount(t, g)
	exitGateway(t, g)
	waitNoProcs(t, s.agentProcs(), 5*time.Second)
}

// TestSSHConfigAliasMake reaches the server by a ~/.ssh/config alias that
// gives HostName, Port, User and IdentityFile.
func TestSSHConfigAliasMake(t *testing.T) {
	warm(t)
	s := startSSHD(t)
	home := s.ClientHome(t, true, false)
	key := filepath.Join(home, "keys", "k")
	os.MkdirAll(filepath.Dir(key), 0o700)
	b, err := os.ReadFile(s.UserKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(key, b, 0o600)
	cfg := fmt.Sprintf("Host other\n  HostName 192.0.2.1\n\nHost box\n  HostName %s\n  Port %s\n  User %s\n  IdentityFile ~/keys/k\n", s.Host, s.Port, s.User)
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g := makeGateway(t, "ssh=box//id=box")
	if g.ID() != "box" {
		t.Errorf("gateway id %q, want box", g.ID())
	}
	checkWordcount(t, g)
	exitGateway(t, g)
	waitNoProcs(t, s.agentProcs(), 5*time.Second)
}
