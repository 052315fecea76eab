package tests

// Attacks on `wasmnet serve`, each made as a stranger on the network would
// make it. Other security tests (grants, caches, stores) share the
// TestSecurity prefix: go test -run TestSecurity ./... runs them all.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// serveFails runs serve, which must refuse to start, and returns its output.
func serveFails(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, agentBin(t), append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...).CombinedOutput()
	if err == nil || ctx.Err() != nil || strings.Contains(string(out), "listening on") {
		t.Fatalf("serve %q started (or hung): %v\n%s", args, err, out)
	}
	return string(out)
}

// A key limited by from= to other addresses gets nothing; restrict takes
// away what the server's flags granted.
func TestSecurityServeKeyOptions(t *testing.T) {
	k := newServeKeys(t)
	elsewhere, elsewhereLine := k.client("elsewhere")
	negated, negatedLine := k.client("negated")
	local, localLine := k.client("local")
	restricted, restrictedLine := k.client("restricted")
	p := k.start(strings.Join([]string{
		`from="10.0.0.0/8" ` + elsewhereLine,
		`from="!127.0.0.1,*" ` + negatedLine,
		`from="127.0.0.1" ` + localLine,
		`restrict,from="127.0.0.0/8" ` + restrictedLine,
	}, "\n"), "", "--allow-rsync")

	for _, key := range []string{elsewhere, negated} {
		if _, err := tryGateway(t, k.spec(p, key)); !errors.Is(err, gateway.ErrAuthRefused) {
			t.Errorf("%s from 127.0.0.1: got %v, want ErrAuthRefused", filepath.Base(key), err)
		}
	}
	g := makeGateway(t, k.spec(p, local))
	runEcho(t, g, []any{"local"})
	if _, err := g.RSync(ctxFor(t, testutil.WaitTimeout), t.TempDir(), t.TempDir()); err != nil {
		t.Errorf("rsync with --allow-rsync and an unrestricted key: %v", err)
	}
	r := makeGateway(t, k.spec(p, restricted))
	runEcho(t, r, []any{"restricted"})
	dest := t.TempDir()
	if _, err := r.RSync(ctxFor(t, testutil.WaitTimeout), t.TempDir(), dest); err == nil || !strings.Contains(err.Error(), "refuses rsync") {
		t.Errorf("rsync with a restrict key: got %v, want it refused", err)
	}
	p.alive(t)
}

// An option serve does not implement, or a from= it cannot match, stops
// the start with the file and line; no client is served in the meantime.
func TestSecurityServeRefusesUnknownOption(t *testing.T) {
	k := newServeKeys(t)
	_, line := k.client("c")
	for _, tt := range []struct{ line, want string }{
		{`command="/bin/sh -c id" ` + line, `command=`},
		{`permitopen="127.0.0.1:22" ` + line, `permitopen=`},
		{`from="*.example.com" ` + line, "names a host"},
	} {
		keys := filepath.Join(t.TempDir(), "authorized_keys")
		os.WriteFile(keys, []byte("# clients\n"+line+"\n"+tt.line+"\n"), 0o600)
		out := serveFails(t, "--host-key", k.hostKey, "--authorized-keys", keys)
		if !strings.Contains(out, keys+":3:") || !strings.Contains(out, tt.want) {
			t.Errorf("%s: serve said %q, want %s:3 and %q", tt.line, out, keys, tt.want)
		}
	}
}

// Without --authorized-keys serve reads wasmnet's own file, never the
// login keys of ~/.ssh/authorized_keys.
func TestSecurityServeDefaultKeyFile(t *testing.T) {
	k := newServeKeys(t)
	_, line := k.client("c")
	os.MkdirAll(filepath.Join(k.dir, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(k.dir, ".ssh", "authorized_keys"), []byte(line+"\n"), 0o600)
	t.Setenv("XDG_CONFIG_HOME", "")
	out := serveFails(t, "--host-key", k.hostKey)
	if want := filepath.Join(k.dir, ".config", "wasmnet", "authorized_keys"); !strings.Contains(out, want) {
		t.Errorf("serve without --authorized-keys said %q, want it to name %s", out, want)
	}
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	out = serveFails(t, "--host-key", k.hostKey)
	if want := filepath.Join(xdg, "wasmnet", "authorized_keys"); !strings.Contains(out, want) {
		t.Errorf("with XDG_CONFIG_HOME: serve said %q, want it to name %s", out, want)
	}
}

// A default serve runs guests and nothing else: a hop (via=), an rsync and
// a directory grant through it are refused; each --allow-* turns one on.
func TestSecurityServeDefaultsRefuseHops(t *testing.T) {
	k := newServeKeys(t)
	key, line := k.client("c")
	p := k.start(line, "")
	group := gateway.NewGroup(gateway.WithGatewayOptions(gateway.WithAgentPath(agentBin(t)), gateway.WithOutput(&testutil.SyncBuffer{})))
	t.Cleanup(func() { group.Terminate(10 * time.Second) })
	if _, err := group.MakeGateways(ctxFor(t, testutil.WaitTimeout), k.spec(p, key)+"//id=hop"); err != nil {
		t.Fatal(err)
	}
	_, err := group.MakeGateways(ctxFor(t, testutil.WaitTimeout), "popen//id=behind//via=hop")
	if err == nil || !strings.Contains(err.Error(), "serves no hops") {
		t.Errorf("via= through a default serve: got %v, want it refused", err)
	}
	hop := group.Gateway("hop")
	dest := t.TempDir()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "planted"), []byte("x"), 0o644)
	if _, err := hop.RSync(ctxFor(t, testutil.WaitTimeout), src, dest); err == nil || !strings.Contains(err.Error(), "refuses rsync") {
		t.Errorf("rsync through a default serve: got %v, want it refused", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "planted")); err == nil {
		t.Errorf("the refused rsync wrote %s", dest)
	}
	_, err = hop.RemoteExec(ctxFor(t, testutil.WaitTimeout), loadModule(t, "echo"), gateway.WithDir(k.dir, "/home", true))
	if err == nil || !strings.Contains(err.Error(), "grants no directories") {
		t.Errorf("a directory grant from a default serve: got %v, want it refused", err)
	}

	// The same through a server that allows them: the refusals came from
	// the defaults.
	open := k.start(line, "", "--allow-hops", "--allow-rsync", "--allow-dir-grants")
	if _, err := group.MakeGateways(ctxFor(t, testutil.WaitTimeout), k.spec(open, key)+"//id=openhop"); err != nil {
		t.Fatal(err)
	}
	if _, err := group.MakeGateways(ctxFor(t, testutil.WaitTimeout), "popen//id=behindopen//via=openhop"); err != nil {
		t.Fatalf("via= through serve --allow-hops: %v", err)
	}
	runEcho(t, group.Gateway("behindopen"), []any{"behind the hop"})
	if _, err := group.Gateway("openhop").RSync(ctxFor(t, testutil.WaitTimeout), src, dest); err != nil {
		t.Errorf("rsync through serve --allow-rsync: %v", err)
	}

	// Any local user can reach a plain server, which therefore refuses them.
	out := serveFails(t, "--insecure-plain", "--allow-hops")
	if !strings.Contains(out, "--insecure-plain refuses") {
		t.Errorf("serve --insecure-plain --allow-hops said %q", out)
	}
}

// idleConns opens n TCP connections to addr that never speak, and counts
// those the server closes. They are closed when the test ends.
type idleConns struct {
	conns  []net.Conn
	closed atomic.Int64
	wg     sync.WaitGroup
}

func openIdle(t *testing.T, addr string, n int) *idleConns {
	t.Helper()
	ic := &idleConns{}
	t.Cleanup(func() {
		for _, c := range ic.conns {
			c.Close()
		}
		ic.wg.Wait()
	})
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 30*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		ic.conns = append(ic.conns, c)
		ic.wg.Go(func() {
			// The server's banner, then nothing until it hangs up.
			c.SetReadDeadline(time.Now().Add(5 * time.Minute))
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
						ic.closed.Add(1)
					}
					return
				}
			}
		})
	}
	return ic
}

// waitClosed waits until the server has closed at least n of the idle
// connections.
func (ic *idleConns) waitClosed(t *testing.T, n int64, d time.Duration) {
	t.Helper()
	if !testutil.Poll(d, func() bool { return ic.closed.Load() >= n }) {
		t.Fatalf("the server closed %d idle connections in %v, want at least %d", ic.closed.Load(), d, n)
	}
}

func openFDs(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// 200 idle connections, more than the server has file descriptors for, do
// not end it: accept errors are waited out, the handshake deadline frees
// the descriptors, and a real client gets its agent.
func TestSecurityServeIdleConnectionsOutlastFDs(t *testing.T) {
	k := newServeKeys(t)
	key, line := k.client("c")
	p := k.start(line, "ulimit -n 48", "--handshake-timeout", "2s")
	openIdle(t, p.addr, 200)
	g := makeGateway(t, k.spec(p, key))
	runEcho(t, g, []any{"after the flood"})
	p.alive(t)
	if !strings.Contains(p.stderr.String(), "too many open files") {
		t.Errorf("serve never ran out of descriptors, so the test proved nothing; stderr: %s", p.stderr)
	}
}

// The connections still authenticating are capped: past the cap the oldest
// is dropped, so the server holds few descriptors and a real client that
// comes after the flood is served at once. The deadline ends the rest.
func TestSecurityServeIdleConnectionsCapped(t *testing.T) {
	k := newServeKeys(t)
	key, line := k.client("c")
	p := k.start(line, "", "--max-unauthenticated", "8", "--handshake-timeout", "10m")
	idle := openIdle(t, p.addr, 200)
	idle.waitClosed(t, 192, 2*time.Minute)
	if n := openFDs(t, p.cmd.Process.Pid); n > 8+40 {
		t.Errorf("serve holds %d descriptors with 200 idle connections and a cap of 8", n)
	}
	g := makeGateway(t, k.spec(p, key))
	runEcho(t, g, []any{"past the cap"})
	p.alive(t)

	q := k.start(line, "", "--handshake-timeout", "1s")
	openIdle(t, q.addr, 3).waitClosed(t, 3, time.Minute)

	// A plain server treats connections that have not spoken alike.
	plain := startServeProc(t, "", "--insecure-plain", "--max-unauthenticated", "8", "--handshake-timeout", "10m", "--cache-dir", k.cacheDir)
	openIdle(t, plain.addr, 100).waitClosed(t, 92, 2*time.Minute)
	runEcho(t, makeGateway(t, "socket="+plain.addr+"//insecure_plain"), []any{"plain, past the cap"})
	plain.alive(t)
}

// The limits of one server: executions (shared by all its clients), the
// default run-time limit, clients, and agents per client.
func TestSecurityServeLimits(t *testing.T) {
	k := newServeKeys(t)
	key, line := k.client("c")
	p := k.start(line, "", "--max-executions", "1", "--max-clients", "2", "--default-time-limit", "10s")
	g1 := makeGateway(t, k.spec(p, key))
	g2 := makeGateway(t, k.spec(p, key))
	if _, err := tryGateway(t, k.spec(p, key)); err == nil || !strings.Contains(err.Error(), "limit of 2 clients") {
		t.Errorf("a third client of --max-clients 2: got %v", err)
	}
	// Each agent compiles echo first, so that the time limit below runs
	// from instantiations that follow each other closely.
	execWhenFree(t, g1).Close()
	execWhenFree(t, g2).Close()
	blocked := execWhenFree(t, g1) // waits for input it never gets
	_, err := g2.RemoteExec(ctxFor(t, testutil.WaitTimeout), loadModule(t, "echo"))
	if err == nil || !strings.Contains(err.Error(), "limit of 1 executions") {
		t.Errorf("a second execution under --max-executions 1: got %v", err)
	}
	_, err = blocked.Receive(ctxFor(t, testutil.WaitTimeout))
	if err == nil || !strings.Contains(err.Error(), "run-time limit of 10s") {
		t.Errorf("an execution without a limit under --default-time-limit 10s: got %v", err)
	}
	// Its slot is free again.
	execWhenFree(t, g2).Close()

	// Agents per client: a second wasmnet channel on one connection.
	q := k.start(line, "", "--max-agents-per-client", "1")
	signer, err := ssh.ParsePrivateKey(mustRead(t, key))
	if err != nil {
		t.Fatal(err)
	}
	hk, err := knownhosts.New(k.knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", q.addr, &ssh.ClientConfig{User: "u", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hk, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.OpenChannel(gateway.SocketChannelType, nil); err != nil {
		t.Fatalf("first agent: %v", err)
	}
	_, _, err = c.OpenChannel(gateway.SocketChannelType, nil)
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.ResourceShortage || !strings.Contains(oce.Message, "at most 1 agents per client") {
		t.Errorf("a second agent under --max-agents-per-client 1: got %v", err)
	}
}

// execWhenFree runs echo on g once the server has a free execution slot:
// one frees a moment after its guest returns, not when its channel closes.
func execWhenFree(t *testing.T, g *gateway.Gateway) *channel.Channel {
	t.Helper()
	var ch *channel.Channel
	var err error
	if !testutil.Poll(time.Minute, func() bool {
		ch, err = g.RemoteExec(ctxFor(t, testutil.WaitTimeout), loadModule(t, "echo"))
		return err == nil || !strings.Contains(err.Error(), "limit of")
	}) || err != nil {
		t.Fatalf("echo on %s: %v", g.ID(), err)
	}
	return ch
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
