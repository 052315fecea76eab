// Package sshdtest starts a real OpenSSH sshd on 127.0.0.1 for tests, with
// keys made by the test, and builds a stand-in agent to bootstrap through it.
package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wasmnet/wasmnet/internal/testutil"
)

// SSHD is where the tests expect OpenSSH's server.
const SSHD = "/usr/sbin/sshd"

// Server is a running sshd.
type Server struct {
	Host, Port string // 127.0.0.1 and the port it listens on
	User       string // the user it lets in: the current one
	Dir        string // its directory: config, keys, logs
	// RemoteHome is the HOME of sessions it starts (sshd's SetEnv), so
	// each server has a remote agent cache of its own.
	RemoteHome string
	HostKey    ssh.PublicKey
	UserKey    string // path of a private key in authorized_keys
	UserSigner ssh.Signer

	cmd    *exec.Cmd
	stderr *testutil.SyncBuffer
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, s.Port) }

// KnownHostsLine is the server's known_hosts line.
func (s *Server) KnownHostsLine() string {
	return "[" + s.Host + "]:" + s.Port + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey)))
}

// Log is what sshd wrote to its stderr so far.
func (s *Server) Log() string { return s.stderr.String() }

// Start starts sshd -D -e on a free port of 127.0.0.1 and stops it in
// t.Cleanup. It fails the test, with a hint, when sshd is missing. Lines of
// extraConfig are added to its sshd_config.
func Start(t testing.TB, extraConfig ...string) *Server {
	t.Helper()
	if _, err := os.Stat(SSHD); err != nil {
		t.Fatalf("sshdtest: %s is missing (apt-get install -y openssh-server): %v", SSHD, err)
	}
	// sshd refuses to start without its privilege separation directory.
	os.MkdirAll("/run/sshd", 0o755)
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshdtest: current user: %v", err)
	}
	dir := t.TempDir()
	s := &Server{Host: "127.0.0.1", User: u.Username, Dir: dir, RemoteHome: filepath.Join(dir, "remotehome"), stderr: &testutil.SyncBuffer{}}
	if err := os.MkdirAll(s.RemoteHome, 0o755); err != nil {
		t.Fatal(err)
	}
	hostSigner := WriteKey(t, filepath.Join(dir, "host_ed25519"))
	s.HostKey = hostSigner.PublicKey()
	s.UserKey = filepath.Join(dir, "user_ed25519")
	s.UserSigner = WriteKey(t, s.UserKey)
	authorized := ssh.MarshalAuthorizedKey(s.UserSigner.PublicKey())
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), authorized, 0o600); err != nil {
		t.Fatal(err)
	}
	s.Port = freePort(t)
	extraConfig = append([]string{"AllowTcpForwarding yes"}, extraConfig...)
	cfgPath := WriteConfig(t, dir, s.Port, s.Host, s.RemoteHome, extraConfig...)
	s.cmd = exec.Command(SSHD, "-D", "-e", "-f", cfgPath)
	s.cmd.SysProcAttr = procAttr()
	s.cmd.Stderr = s.stderr
	// A session's command inherits sshd's stderr: Wait must not wait for
	// one that outlives sshd.
	s.cmd.WaitDelay = time.Second
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("sshdtest: start %s: %v", SSHD, err)
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.Log())
		}
	})
	WaitListening(t, s.Addr(), exited, s.Log)
	return s
}

// WriteConfig writes dir/sshd_config for an sshd on listen:port, with its
// host key, authorized_keys and pid file in dir, public keys the only way
// in, and HOME=home for sessions; lines of extra are added. It returns the
// file's path.
func WriteConfig(t testing.TB, dir, port, listen, home string, extra ...string) string {
	t.Helper()
	config := fmt.Sprintf(`Port %s
ListenAddress %s
HostKey %[3]s/host_ed25519
AuthorizedKeysFile %[3]s/authorized_keys
PidFile %[3]s/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
SetEnv HOME=%s
LogLevel VERBOSE
`, port, listen, dir, home)
	config += strings.Join(extra, "\n") + "\n"
	path := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// WaitListening waits until something accepts TCP connections at addr,
// failing t if the server exits first (exited closes) or 10 s pass; log
// gives the server's output for the message.
func WaitListening(t testing.TB, addr string, exited <-chan struct{}, log func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("sshdtest: the server for %s exited: %s", addr, log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshdtest: nothing listening on %s after 10s: %v\n%s", addr, err, log())
		}
	}
}

// ClientHome makes a HOME for the client side with a .ssh directory that
// holds known_hosts naming s (if known) and, if withKey, s's user key as
// id_ed25519. It sets $HOME to it and unsets SSH_AUTH_SOCK for the test.
func (s *Server) ClientHome(t testing.TB, known, withKey bool) string {
	t.Helper()
	home := t.TempDir()
	dotssh := filepath.Join(home, ".ssh")
	if err := os.MkdirAll(dotssh, 0o700); err != nil {
		t.Fatal(err)
	}
	if known {
		if err := os.WriteFile(filepath.Join(dotssh, "known_hosts"), []byte(s.KnownHostsLine()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if withKey {
		key, err := os.ReadFile(s.UserKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dotssh, "id_ed25519"), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	return home
}

// WriteKey writes a new ed25519 private key to path (and its public key to
// path.pub) and returns its signer.
func WriteKey(t testing.TB, path string) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pub := ssh.MarshalAuthorizedKey(signer.PublicKey())
	if err := os.WriteFile(path+".pub", pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return signer
}

// FreePort returns a port of 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) string { return freePort(t) }

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

var standin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Standin builds the stand-in agent (package standin beside this one) once
// per test binary, for runtime.GOOS/GOARCH, with a random nonce so its
// sha256 is new on every run. It outlives single tests, in a directory of
// its own that RemoveStandin removes.
func Standin(t testing.TB) string {
	t.Helper()
	standin.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		src := filepath.Join(filepath.Dir(file), "standin")
		standin.dir, standin.err = os.MkdirTemp("", "wasmnet-standin-")
		if standin.err != nil {
			return
		}
		nonce := make([]byte, 8)
		rand.Read(nonce)
		standin.path = filepath.Join(standin.dir, "standin")
		cmd := exec.Command("go", "build", "-o", standin.path, "-ldflags", "-X main.nonce="+hex.EncodeToString(nonce), ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			standin.err = fmt.Errorf("go build standin: %v: %s", err, out)
		}
	})
	if standin.err != nil {
		t.Fatalf("sshdtest: %v", standin.err)
	}
	return standin.path
}

// RemoveStandin removes the stand-in agent; call it from TestMain after m.Run.
func RemoveStandin() {
	if standin.dir != "" {
		os.RemoveAll(standin.dir)
	}
}
