package tests

// The operator's main job on a fleet with faults (issue 24): one host's
// sshd is down, one agent is killed during its first execution, one host's
// compilation cache is on a full disk and another host's whole cache is, so
// that its agent cannot even be uploaded. The run goes on with the hosts it
// has, names those that did not start, and gives the exact merged answer.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wasmnet/wasmnet/internal/corpus"
	"github.com/wasmnet/wasmnet/internal/sshdtest"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wordcount"
)

// fleetFaultHosts is how many hosts TestNetnsFleetFaults starts: 8, or
// WASMNET_FLEET_HOSTS (5 to 64; `make fleet64` sets 64).
func fleetFaultHosts(t *testing.T) int {
	s := os.Getenv("WASMNET_FLEET_HOSTS")
	if s == "" {
		return 8
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 5 || n > 64 {
		t.Fatalf("WASMNET_FLEET_HOSTS=%q: want 5 to 64", s)
	}
	return n
}

// The hosts of the fleet that fail, by index.
const (
	hostDown   = 0 // no sshd listens
	hostFull   = 1 // its compilation cache is on a full tmpfs
	hostNoRoom = 2 // its whole cache is on a full tmpfs: no room for the agent
)

// exitPartial is wasmnet's exit status for an answer from fewer gateways
// than were asked for (cmd/wasmnet/exitcode.go).
const exitPartial = 3

// TestNetnsFleetFaults runs a --merge wordcount over a fleet with one host
// down, two full disks and one agent killed while its first execution
// starts: exit status 3, the exact counts, and each fault named.
func TestNetnsFleetFaults(t *testing.T) {
	n := fleetFaultHosts(t)
	warm(t)
	guest := testwasm.C(t, "wordcount")
	hosts := netnsHosts(t, n)
	t.Setenv("SSH_AUTH_SOCK", "")
	home := t.TempDir()
	key := filepath.Join(home, "id_ed25519")
	user := sshdtest.WriteKey(t, key)
	servers := make([]*nsSSHD, n)
	var kh []string
	inv := "# " + strconv.Itoa(n) + " hosts in network namespaces, one of them down\n\n"
	for i, h := range hosts {
		addr := h.addr + ":2222"
		if i != hostDown {
			servers[i] = startNSSSHD(t, h, user.PublicKey())
			addr = servers[i].addr()
			kh = append(kh, "["+h.addr+"]:"+servers[i].port+" "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(servers[i].hostKey))))
		}
		inv += fmt.Sprintf("ssh=root@%s//id=h%02d//identity=%s//known_hosts=%s   # host %d\n",
			addr, i, key, filepath.Join(home, "known_hosts"), i)
	}
	writeFile(t, filepath.Join(home, "known_hosts"), strings.Join(kh, "\n")+"\n")
	invPath := filepath.Join(home, "fleet.txt")
	writeFile(t, invPath, inv)
	fullDisk(t, servers[hostFull], filepath.Join(servers[hostFull].remoteHome, ".cache", "wasmnet", "compile"))
	fullDisk(t, servers[hostNoRoom], filepath.Join(servers[hostNoRoom].remoteHome, ".cache"))

	var text bytes.Buffer
	corpus.Generate(&text, 4<<20, 11)
	want := map[string]int64{}
	wordcount.Count(text.String(), want)
	input := filepath.Join(t.TempDir(), "corpus.txt")
	writeFile(t, input, text.String())
	trace := filepath.Join(t.TempDir(), "trace")

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // a hang, not a goal
	defer cancel()
	p := startCLI(t, ctx, "run", "--debug="+trace, "-g", "@"+invPath, "--input", input,
		"--chunk-size", "16KiB", "--merge", "--json", guest)
	defer p.cmd.Process.Kill()
	killed := killDuringFirstExec(t, trace, servers)
	r := p.finish()
	t.Logf("run's stderr:\n%s", r.stderr)
	if r.code != exitPartial {
		t.Fatalf("run: exit %d, want %d", r.code, exitPartial)
	}
	if got := testutil.MergedCounts(t, r.stdout); !reflect.DeepEqual(got, want) {
		t.Fatalf("merged counts over the fleet differ from internal/wordcount's: %d words, want %d", len(got), len(want))
	}
	for _, line := range []string{
		fmt.Sprintf("h%02d: did not start", hostDown),
		fmt.Sprintf("h%02d: did not start", hostNoRoom),
		fmt.Sprintf("h%02d: lost", killed),
		fmt.Sprintf("2 of %d gateways did not start", n),
		"cannot be written, modules are compiled in memory only",
	} {
		if !strings.Contains(r.stderr, line) {
			t.Errorf("stderr lacks %q", line)
		}
	}
	if strings.Contains(r.stderr, "invalid WebAssembly") {
		t.Error("an I/O error was reported as a bad module")
	}
	t.Logf("BENCH fleet%d faults: wordcount of 4 MiB with one host down, one agent killed, two disks full: %v, client peak RSS %.1f MiB",
		n, r.took.Round(time.Millisecond), float64(r.maxRSS)/(1<<20))
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fullDisk mounts a small tmpfs at dir and fills it, as s's sessions see
// it: `ip netns exec` gave sshd a mount namespace of its own, which a
// mount made here afterwards does not reach. The tmpfs ends with sshd's
// namespace.
func fullDisk(t *testing.T, s *nsSSHD, dir string) {
	t.Helper()
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Fatalf("nsenter is missing (apt-get install -y util-linux): %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(s.pid)
	if out, err := exec.Command("nsenter", "-t", pid, "-m", "mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs at %s for sshd %s: %v: %s", dir, pid, err, out)
	}
	f, err := os.Create(filepath.Join("/proc", pid, "root", dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 16<<10)
	for range 1000 { // 16 MiB at most, far beyond the 256 KiB
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return
		}
	}
	t.Fatalf("the tmpfs at %s took 16 MiB without filling", dir)
}

// killDuringFirstExec stops the agent of the first gateway to come up
// (of the hosts with no other fault): the longest wait, as the run asks
// for the first executions once every gateway has started. Once the run
// has begun executing on the others, so that this gateway's execution is
// asked for and waits on the stopped agent, it kills the agent and returns
// the host's index.
func killDuringFirstExec(t *testing.T, trace string, servers []*nsSSHD) int {
	t.Helper()
	read := func() string {
		b, _ := os.ReadFile(trace)
		return string(b)
	}
	victim := -1
	deadline := time.Now().Add(10 * time.Minute) // a hang, not a goal
	for victim < 0 && time.Now().Before(deadline) {
		for i := range servers {
			if i != hostDown && i != hostFull && i != hostNoRoom && strings.Contains(read(), fmt.Sprintf("] gateway h%02d: up in", i)) {
				victim = i
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	if victim < 0 {
		t.Fatal("no gateway came up")
	}
	id := fmt.Sprintf("h%02d", victim)
	var pids []int
	for pid := range procsMatching(servers[victim].agentProcs()) {
		syscall.Kill(pid, syscall.SIGSTOP)
		pids = append(pids, pid)
	}
	if len(pids) != 1 {
		t.Fatalf("%d agent processes on %s, want 1", len(pids), servers[victim].host.ns)
	}
	defer syscall.Kill(pids[0], syscall.SIGKILL)
	if !testutil.Poll(testutil.WaitTimeout, func() bool { return strings.Contains(read(), ": exec started on channel") }) {
		t.Fatal("no execution started on any gateway")
	}
	if strings.Contains(read(), "] gateway "+id+": exec started on") {
		t.Fatalf("%s's guest started before its agent was stopped: the test did not kill it during its first execution", id)
	}
	t.Logf("killing the agent of %s (pid %d), stopped while its execution was asked for", id, pids[0])
	return victim
}
