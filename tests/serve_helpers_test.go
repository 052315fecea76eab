package tests

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/wasmnet/wasmnet/internal/sshdtest"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// The serve tests (socket, spin, security) start `wasmnet serve` through
// these helpers alone.

// serveKeys is a client side and a server side of keys for serve tests:
// one host key, client keys by name, and the known_hosts naming the server
// at each address it listens on.
type serveKeys struct {
	t          *testing.T
	dir        string
	hostKey    string
	hostPub    ssh.PublicKey
	knownHosts string
	cacheDir   string // the agents' compilation cache, shared with other tests
}

func newServeKeys(t *testing.T) *serveKeys {
	warm(t)
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("SSH_AUTH_SOCK", "")
	k := &serveKeys{t: t, dir: dir, hostKey: filepath.Join(dir, "host_key"), knownHosts: filepath.Join(dir, "known_hosts"),
		cacheDir: filepath.Join(cache, "wasmnet", "compile")}
	k.hostPub = sshdtest.WriteKey(t, k.hostKey).PublicKey()
	return k
}

// client makes a client key and returns its path and authorized_keys text.
func (k *serveKeys) client(name string) (path, authorized string) {
	path = filepath.Join(k.dir, name)
	pub := sshdtest.WriteKey(k.t, path).PublicKey()
	return path, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// serveProc is a running `wasmnet serve`.
type serveProc struct {
	addr   string
	cmd    *exec.Cmd
	stderr *testutil.SyncBuffer
}

// start runs serve with authorized as its key file; wrap, if given, is a
// shell script that execs "$@" (to set limits first).
func (k *serveKeys) start(authorized, wrap string, args ...string) *serveProc {
	t := k.t
	t.Helper()
	keys := filepath.Join(t.TempDir(), "authorized_keys")
	if err := os.WriteFile(keys, []byte(authorized+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServeProc(t, wrap, append([]string{"--host-key", k.hostKey, "--authorized-keys", keys, "--cache-dir", k.cacheDir}, args...)...)
	line := knownhosts.Line([]string{knownhosts.Normalize(p.addr)}, k.hostPub) + "\n"
	f, err := os.OpenFile(k.knownHosts, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(line)
	return p
}

func (k *serveKeys) spec(p *serveProc, key string) string {
	return "socket=" + p.addr + "//identity=" + key + "//known_hosts=" + k.knownHosts
}

func startServeProc(t *testing.T, wrap string, args ...string) *serveProc {
	t.Helper()
	argv := append([]string{agentBin(t), "serve", "--listen", "127.0.0.1:0"}, args...)
	if wrap != "" {
		argv = append([]string{"sh", "-c", wrap + ` && exec "$@"`, "sh"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, stderr: &testutil.SyncBuffer{}}
	cmd.Stderr = p.stderr
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
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("wasmnet serve said %q, %v; stderr: %s", line, err, p.stderr)
	}
	p.addr = addr
	return p
}

// alive fails the test if serve has exited.
func (p *serveProc) alive(t *testing.T) {
	t.Helper()
	if !testutil.ProcessRunning(p.cmd.Process.Pid) {
		t.Fatalf("wasmnet serve has exited; stderr: %s", p.stderr)
	}
}
