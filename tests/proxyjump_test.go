package tests

// A ProxyJump topology: the client reaches a hop (a namespace with a veth to
// the root namespace), and only the hop reaches an inner host (a namespace
// joined to the hop's alone). ssh=inner//via=hop and socket=inner//via=hop
// start in one MakeGateways with the hop, and run guests on the inner host.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/sshdtest"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// innerHost makes a namespace joined only to hop's namespace by a veth
// with a /30 of its own, removed in t.Cleanup.
func innerHost(t *testing.T, hop *nsHost) *nsHost {
	t.Helper()
	subnet := freeSubnet(t, "ip")
	tag := randomHex(t, 3)
	h := &nsHost{ns: "wn-" + tag + "-inner", addr: subnet + ".2", rootAddr: subnet + ".1", unrouted: true}
	t.Cleanup(func() { h.remove(t, "ip") })
	runIP(t, "ip", "netns", "add", h.ns)
	runIP(t, "ip", "-n", hop.ns, "link", "add", "wnj"+tag, "type", "veth", "peer", "name", "wn0", "netns", h.ns)
	runIP(t, "ip", "-n", hop.ns, "addr", "add", h.rootAddr+"/30", "dev", "wnj"+tag)
	runIP(t, "ip", "-n", hop.ns, "link", "set", "wnj"+tag, "up")
	runIP(t, "ip", "-n", h.ns, "addr", "add", h.addr+"/30", "dev", "wn0")
	runIP(t, "ip", "-n", h.ns, "link", "set", "wn0", "up")
	runIP(t, "ip", "-n", h.ns, "link", "set", "lo", "up")
	return h
}

// waitListeningIn waits until something listens on TCP port in namespace
// ns, asking ss inside it (the test's own namespace may have no route).
func waitListeningIn(t *testing.T, ns, port string, exited <-chan struct{}, log func() string) {
	t.Helper()
	var err error
	listening := testutil.Poll(10*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("the server in %s exited: %s", ns, log())
		default:
		}
		var out []byte
		out, err = exec.Command("ip", "netns", "exec", ns, "ss", "-Hltn", "sport = :"+port).Output()
		return err == nil && strings.TrimSpace(string(out)) != ""
	})
	if !listening {
		t.Fatalf("nothing listening on port %s in %s after 10s (%v)\n%s", port, ns, err, log())
	}
}

// netNS is the network namespace of process pid, as /proc names it.
func netNS(t *testing.T, pid int) string {
	t.Helper()
	ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// startServeIn runs `wasmnet serve` in namespace ns on addr with the keys
// given and waits for it to listen; it is killed when the test ends.
func startServeIn(t *testing.T, ns, addr string, args ...string) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, agentBin(t), "serve", "--listen", addr}, args...)...)
	log := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	_, port, _ := strings.Cut(addr, ":")
	waitListeningIn(t, ns, port, exited, log.String)
}

func TestNetnsProxyJump(t *testing.T) {
	warm(t)
	hop := netnsHosts(t, 1)[0]
	inner := innerHost(t, hop)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	key := filepath.Join(home, "id_ed25519")
	user := sshdtest.WriteKey(t, key)
	hopSSHD := startNSSSHD(t, hop, user.PublicKey())
	innerSSHD := startNSSSHD(t, inner, user.PublicKey())

	authorized := filepath.Join(home, "authorized_keys")
	os.WriteFile(authorized, ssh.MarshalAuthorizedKey(user.PublicKey()), 0o600)
	serveKey := filepath.Join(home, "serve_host_key")
	servePub := sshdtest.WriteKey(t, serveKey).PublicKey()
	serveAddr := inner.addr + ":7022"
	startServeIn(t, inner.ns, serveAddr, "--host-key", serveKey, "--authorized-keys", authorized)

	kh := []string{
		knownhosts.Line([]string{knownhosts.Normalize(hopSSHD.addr())}, hopSSHD.hostKey),
		knownhosts.Line([]string{knownhosts.Normalize(innerSSHD.addr())}, innerSSHD.hostKey),
		knownhosts.Line([]string{knownhosts.Normalize(serveAddr)}, servePub),
	}
	khFile := filepath.Join(home, "known_hosts")
	os.WriteFile(khFile, []byte(strings.Join(kh, "\n")+"\n"), 0o600)
	auth := "//identity=" + key + "//known_hosts=" + khFile

	// The client has no route to the inner host.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := gateway.Make(ctx, "ssh=root@"+innerSSHD.addr()+auth, gateway.WithAgentPath(agentBin(t)))
	cancel()
	if err == nil {
		t.Fatal("the client reached the inner host directly: the topology does not test via=")
	}

	grp := gateway.NewGroup(gateway.WithGatewayOptions(gateway.WithAgentPath(agentBin(t)), gateway.WithOutput(&testutil.SyncBuffer{})))
	t.Cleanup(func() { grp.Terminate(5 * time.Second) })
	gws, err := grp.MakeGateways(ctxFor(t, 90*time.Second),
		"ssh=root@"+innerSSHD.addr()+"//id=inner-ssh//via=hop"+auth,
		"socket="+serveAddr+"//id=inner-socket//via=hop"+auth,
		"ssh=root@"+hopSSHD.addr()+"//id=hop"+auth,
	)
	if err != nil {
		t.Fatal(err)
	}
	innerNS := netNS(t, innerSSHD.pid)
	if got := netNS(t, gws[2].Info().PID); got != netNS(t, hopSSHD.pid) {
		t.Errorf("the hop's agent runs in %s, not in the hop's namespace", got)
	}
	for _, gw := range gws[:2] {
		if got := netNS(t, gw.Info().PID); got != innerNS {
			t.Errorf("%s: its agent runs in %s, want the inner namespace %s", gw.ID(), got, innerNS)
		}
		want := []any{"through", int64(2), "hops"}
		if got := runEcho(t, gw, want); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: echo gave %v", gw.ID(), got)
		}
		runPrimes(t, gw, [][2]int64{{0, 10000}})
	}
	if err := grp.Terminate(10 * time.Second); err != nil {
		t.Errorf("Terminate: %v", err)
	}
}
