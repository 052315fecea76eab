package tests

// Two hosts in network namespaces made by the test, each joined to the root
// namespace by a veth pair with addresses of 10.231.0.0/16 that the test
// picks and checks are unused, each running its own OpenSSH sshd. A Group
// reaches both over ssh=; cutting one veth during a run fails that host's
// channels promptly while the other's results keep coming.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/primes"
	"github.com/wasmnet/wasmnet/internal/sshdtest"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// nsHost is a network namespace with a veth to the root namespace.
type nsHost struct {
	ns       string // namespace name
	veth     string // the root side of the veth pair
	rootAddr string // the root side's address
	addr     string // the namespace side's address, where sshd listens
	// unrouted: the root namespace has no route to addr (a host behind a
	// hop), so waits for a listener look from inside the namespace.
	unrouted bool
}

// netnsHosts makes n (at most 63) namespaces wn-<random>-0, -1, ... with a
// /30 each out of one free 10.231.X.0/24, and removes them (and whatever still runs in
// them) in t.Cleanup, also when the test fails.
func netnsHosts(t *testing.T, n int) []*nsHost {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root (ip netns add); CI runs them as root")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("ip is missing (apt-get install -y iproute2): %v", err)
	}
	tag := randomHex(t, 3)
	subnet := freeSubnet(t, ip)
	var hosts []*nsHost
	for i := range n {
		suffix := strconv.Itoa(i)
		h := &nsHost{
			ns:       "wn-" + tag + "-" + suffix,
			veth:     "wn" + tag + suffix,
			rootAddr: fmt.Sprintf("%s.%d", subnet, 4*i+1),
			addr:     fmt.Sprintf("%s.%d", subnet, 4*i+2),
		}
		t.Cleanup(func() { h.remove(t, ip) })
		runIP(t, ip, "netns", "add", h.ns)
		runIP(t, ip, "link", "add", h.veth, "type", "veth", "peer", "name", "wn0", "netns", h.ns)
		runIP(t, ip, "addr", "add", h.rootAddr+"/30", "dev", h.veth)
		runIP(t, ip, "link", "set", h.veth, "up")
		runIP(t, ip, "-n", h.ns, "addr", "add", h.addr+"/30", "dev", "wn0")
		runIP(t, ip, "-n", h.ns, "link", "set", "wn0", "up")
		runIP(t, ip, "-n", h.ns, "link", "set", "lo", "up")
		hosts = append(hosts, h)
	}
	return hosts
}

// remove kills what runs in the namespace, then deletes the veth (its peer
// goes with it) and the namespace.
func (h *nsHost) remove(t *testing.T, ip string) {
	if out, err := exec.Command(ip, "netns", "pids", h.ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				t.Logf("netns %s: killing leftover process %d", h.ns, pid)
				if p, err := os.FindProcess(pid); err == nil {
					p.Kill()
				}
			}
		}
	}
	exec.Command(ip, "link", "del", h.veth).Run()
	if out, err := exec.Command(ip, "netns", "del", h.ns).CombinedOutput(); err != nil {
		t.Errorf("ip netns del %s: %v: %s", h.ns, err, out)
	}
}

func runIP(t *testing.T, ip string, args ...string) {
	t.Helper()
	if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// freeSubnet returns "10.231.X" for an X that no address or route of the
// root namespace uses.
func freeSubnet(t *testing.T, ip string) string {
	t.Helper()
	used, _ := exec.Command(ip, "-o", "addr").Output()
	routes, _ := exec.Command(ip, "route").Output()
	used = append(used, routes...)
	for range 50 {
		b := make([]byte, 1)
		rand.Read(b)
		s := fmt.Sprintf("10.231.%d", b[0])
		if !strings.Contains(string(used), s+".") {
			return s
		}
	}
	t.Fatal("no free 10.231.X.0/24 found in 50 tries")
	return ""
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// nsSSHD is an sshd running in a namespace.
type nsSSHD struct {
	host       *nsHost
	port       string
	dir        string
	remoteHome string
	pid        int
	hostKey    ssh.PublicKey
	log        *testutil.SyncBuffer
}

func (s *nsSSHD) addr() string { return net.JoinHostPort(s.host.addr, s.port) }

// agentProcs is what /proc shows of the agents started from s's cache.
func (s *nsSSHD) agentProcs() string {
	return filepath.Join(s.remoteHome, ".cache", "wasmnet", "agent-")
}

// startNSSSHD runs `ip netns exec NS sshd -D -e -f CONF` listening on the
// namespace's address only, accepting userKey. sshd drops a client silent
// for 3 s (ClientAlive), so a cut link does not leave its session and agent
// running. t.Cleanup stops it and every process under it.
func startNSSSHD(t *testing.T, h *nsHost, userKey ssh.PublicKey) *nsSSHD {
	t.Helper()
	if _, err := os.Stat(sshdtest.SSHD); err != nil {
		t.Fatalf("%s is missing (apt-get install -y openssh-server): %v", sshdtest.SSHD, err)
	}
	os.MkdirAll("/run/sshd", 0o755)
	dir := t.TempDir()
	s := &nsSSHD{host: h, port: "2222", dir: dir, remoteHome: filepath.Join(dir, "home"), log: &testutil.SyncBuffer{}}
	os.MkdirAll(s.remoteHome, 0o755)
	s.hostKey = sshdtest.WriteKey(t, filepath.Join(dir, "host_ed25519")).PublicKey()
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(userKey), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := sshdtest.WriteConfig(t, dir, s.port, h.addr, s.remoteHome, "ClientAliveInterval 1", "ClientAliveCountMax 3")
	// ip netns exec enters the namespace and execs sshd: one process.
	cmd := exec.Command("ip", "netns", "exec", h.ns, sshdtest.SSHD, "-D", "-e", "-f", cfg)
	cmd.Stderr = s.log
	// Should the test binary die, sshd dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd in %s: %v", h.ns, err)
	}
	s.pid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		for _, p := range descendants(s.pid) {
			if proc, err := os.FindProcess(p); err == nil {
				proc.Kill()
			}
		}
		cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("sshd in %s (pid %d) did not exit 10s after SIGKILL", h.ns, s.pid)
		}
		if t.Failed() {
			t.Logf("sshd in %s:\n%s", h.ns, s.log.String())
		}
	})
	if h.unrouted {
		waitListeningIn(t, h.ns, s.port, exited, s.log.String)
	} else {
		sshdtest.WaitListening(t, s.addr(), exited, s.log.String)
	}
	return s
}

// twoHosts starts two namespaces with an sshd each and a Group holding an
// ssh= gateway to each (ids a and b) with a 500 ms keepalive.
func twoHosts(t *testing.T) ([]*nsHost, []*nsSSHD, *gateway.Group) {
	t.Helper()
	warm(t)
	hosts := netnsHosts(t, 2)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	key := filepath.Join(home, "id_ed25519")
	user := sshdtest.WriteKey(t, key)
	var servers []*nsSSHD
	var kh, specs []string
	for i, h := range hosts {
		s := startNSSSHD(t, h, user.PublicKey())
		servers = append(servers, s)
		kh = append(kh, "["+h.addr+"]:"+s.port+" "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.hostKey))))
		specs = append(specs, fmt.Sprintf("ssh=root@%s//id=%c//identity=%s", s.addr(), 'a'+i, key))
	}
	if err := os.WriteFile(filepath.Join(home, "known_hosts"), []byte(strings.Join(kh, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range specs {
		specs[i] += "//known_hosts=" + filepath.Join(home, "known_hosts")
	}
	grp := gateway.NewGroup(gateway.WithGatewayOptions(
		gateway.WithAgentPath(agentBin(t)),
		gateway.WithOutput(&testutil.SyncBuffer{}),
		gateway.WithKeepAlive(500*time.Millisecond),
	))
	t.Cleanup(func() { grp.Terminate(5 * time.Second) })
	if _, err := grp.MakeGateways(ctxFor(t, testutil.WaitTimeout), specs...); err != nil {
		t.Fatal(err)
	}
	return hosts, servers, grp
}

// primesJob is one host's half of a range, in pieces sent one at a time.
type primesJob struct {
	pieces [][2]int64
	next   int     // the next piece to send
	got    []int64 // results, in order
	err    error   // how the channel ended, if it did
	errAt  time.Time
}

func (j *primesJob) send(t *testing.T, mc *gateway.MultiChannel, i int) {
	if j.next == len(j.pieces) {
		return
	}
	p := j.pieces[j.next]
	if err := mc.Channels()[i].Send([]any{p[0], p[1]}); err != nil && j.err == nil {
		j.err, j.errAt = err, time.Now()
	}
	j.next++
}

func split(lo, hi int64, n int) [][2]int64 {
	var out [][2]int64
	step := (hi - lo) / int64(n)
	for i := range n {
		a := lo + int64(i)*step
		b := a + step
		if i == n-1 {
			b = hi
		}
		out = append(out, [2]int64{a, b})
	}
	return out
}

// TestNetnsPrimesAndCut runs primes split across two hosts; the first run
// completes on both, and in the second the link to host a is cut after its
// third result: a's channel fails within 15 s, b's results all arrive, and
// Terminate then leaves no session or agent on either host.
func TestNetnsPrimesAndCut(t *testing.T) {
	hosts, servers, grp := twoHosts(t)
	m := loadModule(t, "primes")
	const lo, hi, pieces = 0, 2_000_000, 30

	t.Run("BothHosts", func(t *testing.T) {
		mc, err := grp.RemoteExec(ctxFor(t, testutil.WaitTimeout), m)
		if err != nil {
			t.Fatal(err)
		}
		defer mc.Close()
		if got := len(mc.Channels()); got != 2 {
			t.Fatalf("%d channels, want 2", got)
		}
		jobs := []*primesJob{{pieces: split(lo, hi/2, 4)}, {pieces: split(hi/2, hi, 4)}}
		runPrimesJobs(t, mc, jobs, nil)
		var total int64
		for i, j := range jobs {
			if j.err != nil {
				t.Fatalf("host %s: %v", mc.Gateways()[i].ID(), j.err)
			}
			for _, n := range j.got {
				total += n
			}
		}
		if want := primes.Count(lo, hi); total != want {
			t.Fatalf("primes in [%d, %d) over two hosts: %d, want %d", lo, hi, total, want)
		}
	})

	t.Run("CutOneLink", func(t *testing.T) {
		mc, err := grp.RemoteExec(ctxFor(t, testutil.WaitTimeout), m)
		if err != nil {
			t.Fatal(err)
		}
		defer mc.Close()
		a, b := mc.Gateways()[0], mc.Gateways()[1]
		if a.ID() != "a" || b.ID() != "b" {
			t.Fatalf("gateways %s, %s; want a, b", a.ID(), b.ID())
		}
		jobs := []*primesJob{{pieces: split(lo, hi/2, pieces)}, {pieces: split(hi/2, hi, pieces)}}
		var cutAt time.Time
		var bAfterCut int
		runPrimesJobs(t, mc, jobs, func(i int) {
			if i == 0 && len(jobs[0].got) == 3 && cutAt.IsZero() {
				runIP(t, "ip", "link", "set", hosts[0].veth, "down")
				cutAt = time.Now()
				t.Logf("cut %s after a's third result; b has %d of %d", hosts[0].veth, len(jobs[1].got), pieces)
			}
			if i == 1 && !cutAt.IsZero() {
				bAfterCut++
			}
		})
		if cutAt.IsZero() {
			t.Fatal("host a never gave three results; the link was not cut")
		}
		if jobs[0].err == nil {
			t.Fatal("host a's channel did not fail after its link was cut")
		}
		took := jobs[0].errAt.Sub(cutAt)
		t.Logf("a failed %v after the cut: %v", took, jobs[0].err)
		if took > 15*time.Second {
			t.Errorf("a's channel failed %v after the cut, want under 15s", took)
		}
		if jobs[1].err != nil || len(jobs[1].got) != pieces {
			t.Fatalf("host b: %d of %d results, %v", len(jobs[1].got), pieces, jobs[1].err)
		}
		if bAfterCut == 0 {
			t.Error("b gave no result after the cut: the test did not show that it kept working")
		}
		var total int64
		for _, n := range jobs[1].got {
			total += n
		}
		if want := primes.Count(hi/2, hi); total != want {
			t.Errorf("b's half: %d primes, want %d", total, want)
		}
		select {
		case <-a.Done():
		case <-time.After(15 * time.Second):
			t.Error("gateway a not reaped 15s after its link was cut")
		}
		if grp.Gateway("a") != nil {
			t.Error("the lost gateway a is still in the group")
		}
	})

	if err := grp.Terminate(5 * time.Second); err != nil {
		t.Errorf("Terminate: %v", err)
	}
	// Host a's sshd notices the dead client (ClientAlive, 3 s) and ends its
	// session, whose agent then sees its stdin close.
	for _, s := range servers {
		waitNoProcs(t, s.agentProcs(), 15*time.Second)
		if !testutil.Poll(15*time.Second, func() bool { return len(descendants(s.pid)) == 0 }) {
			t.Errorf("sshd in %s still has session processes %v", s.host.ns, descendants(s.pid))
		}
	}
}

// runPrimesJobs keeps two pieces in flight per host, sending the next piece
// as each result arrives through mc.Receive, until every host has all its
// results or has failed. after(i) runs after each result of host i. Every
// wait is bounded: the whole run by 120 s.
func runPrimesJobs(t *testing.T, mc *gateway.MultiChannel, jobs []*primesJob, after func(i int)) {
	t.Helper()
	chans := mc.Channels()
	index := map[any]int{}
	for i, ch := range chans {
		index[ch] = i
		jobs[i].send(t, mc, i)
		jobs[i].send(t, mc, i)
	}
	ctx := ctxFor(t, 120*time.Second)
	for {
		done := true
		for _, j := range jobs {
			if j.err == nil && len(j.got) < len(j.pieces) {
				done = false
			}
		}
		if done {
			return
		}
		ch, v, err := mc.Receive(ctx)
		if err != nil && ch == nil {
			t.Fatalf("receive: %v (results so far: a %d, b %d)", err, len(jobs[0].got), len(jobs[1].got))
		}
		i := index[ch]
		j := jobs[i]
		if err != nil {
			if j.err == nil {
				j.err, j.errAt = err, time.Now()
			}
			continue
		}
		n, ok := v.(int64)
		if !ok {
			t.Fatalf("host %s sent %T %v, want an integer", mc.Gateways()[i].ID(), v, v)
		}
		p := j.pieces[len(j.got)]
		if want := primes.Count(p[0], p[1]); n != want {
			t.Fatalf("host %s: primes in %v: %d, want %d", mc.Gateways()[i].ID(), p, n, want)
		}
		j.got = append(j.got, n)
		j.send(t, mc, i)
		if after != nil {
			after(i)
		}
	}
}
