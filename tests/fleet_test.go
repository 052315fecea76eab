package tests

// A fleet of 32 hosts, each a network namespace with its own sshd, driven
// through the wasmnet CLI as a user would: status (bootstrap with uploads,
// then from the cache), a --merge wordcount during which the link to one
// host is cut, and rsync of a tree to all. The times and the client's peak
// memory are logged for BENCHMARKS.md.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
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

const fleetSize = 32

// cliRun is what a run of the wasmnet CLI gave: stdout, stderr, exit
// status, wall time and the client's peak RSS in bytes.
type cliRun struct {
	stdout, stderr string
	code           int
	took           time.Duration
	maxRSS         int64
}

// cliProc is a CLI process started by startCLI.
type cliProc struct {
	cmd            *exec.Cmd
	stdout, stderr *testutil.SyncBuffer
	start          time.Time
	rss            *testutil.RSSWatch
}

func startCLI(t *testing.T, ctx context.Context, args ...string) *cliProc {
	t.Helper()
	cmd := exec.CommandContext(ctx, agentBin(t), args...)
	// A run that outlives its bound prints its goroutines before it dies.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	p := &cliProc{cmd: cmd, stdout: &testutil.SyncBuffer{}, stderr: &testutil.SyncBuffer{}, start: time.Now()}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Not the rusage of wait4: the child's ru_maxrss would start at this
	// test binary's RSS when it forked (428 MiB in CI), not the client's.
	p.rss = testutil.WatchRSS(cmd.Process.Pid)
	return p
}

// finish waits for the process, if nobody has, and returns its results.
func (p *cliProc) finish() cliRun {
	if p.cmd.ProcessState == nil {
		p.cmd.Wait()
	}
	return cliRun{stdout: p.stdout.String(), stderr: p.stderr.String(), code: p.cmd.ProcessState.ExitCode(),
		took: time.Since(p.start), maxRSS: p.rss.Peak()}
}

// runCLI runs the wasmnet CLI, bounded only against a hang.
func runCLI(t *testing.T, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	defer cancel()
	return startCLI(t, ctx, args...).finish()
}

// fleet starts the hosts and their sshds and writes an inventory naming
// them; each agent works in its host's home.
func fleet(t *testing.T) ([]*nsHost, []*nsSSHD, string) {
	t.Helper()
	warm(t)
	testwasm.C(t, "wordcount")
	hosts := netnsHosts(t, fleetSize)
	home := t.TempDir()
	key := filepath.Join(home, "id_ed25519")
	user := sshdtest.WriteKey(t, key)
	var servers []*nsSSHD
	var kh []string
	inv := "# " + strconv.Itoa(fleetSize) + " hosts in network namespaces\n"
	for i, h := range hosts {
		s := startNSSSHD(t, h, user.PublicKey())
		servers = append(servers, s)
		kh = append(kh, "["+h.addr+"]:"+s.port+" "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.hostKey))))
		inv += fmt.Sprintf("ssh=root@%s//id=h%02d//identity=%s//known_hosts=%s//chdir=%s\n",
			s.addr(), i, key, filepath.Join(home, "known_hosts"), filepath.Join(s.remoteHome, "w"))
	}
	if err := os.WriteFile(filepath.Join(home, "known_hosts"), []byte(strings.Join(kh, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	invPath := filepath.Join(home, "fleet.txt")
	if err := os.WriteFile(invPath, []byte(inv), 0o600); err != nil {
		t.Fatal(err)
	}
	return hosts, servers, invPath
}

// TestNetnsFleet32 drives 32 hosts through one inventory.
func TestNetnsFleet32(t *testing.T) {
	hosts, servers, inv := fleet(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	defer func() {
		for _, s := range servers {
			waitNoProcs(t, s.agentProcs(), 30*time.Second)
		}
	}()

	// Bootstrap: every host's cache is empty, so each gets the agent;
	// --max-parallel bounds how many uploads run at once.
	for _, phase := range []string{"upload", "cached"} {
		r := runCLI(t, "status", "-g", "@"+inv, "--json", "--max-parallel", "8", "--timeout", "120s")
		if r.code != 0 {
			t.Fatalf("status (%s): exit %d\n%s\n%s", phase, r.code, r.stdout, r.stderr)
		}
		var starts []time.Duration
		for line := range strings.Lines(r.stdout) {
			var row struct {
				ID     string
				Start  time.Duration `json:"start_ns"`
				Status *struct{ Version string }
			}
			if err := json.Unmarshal([]byte(line), &row); err != nil || row.Status == nil {
				t.Fatalf("status row %q: %v", line, err)
			}
			starts = append(starts, row.Start)
		}
		if len(starts) != fleetSize {
			t.Fatalf("%d status rows, want %d", len(starts), fleetSize)
		}
		slices.Sort(starts)
		t.Logf("BENCH fleet32 status %s: total %v, per host median %v max %v, client peak RSS %.1f MiB",
			phase, r.took.Round(time.Millisecond), starts[len(starts)/2].Round(time.Millisecond),
			starts[len(starts)-1].Round(time.Millisecond), float64(r.maxRSS)/(1<<20))
	}
	for _, s := range servers {
		if agents, _ := filepath.Glob(s.agentProcs() + "*"); len(agents) != 1 {
			t.Errorf("host %s has %d cached agents, want 1", s.host.ns, len(agents))
		}
	}

	t.Run("WordcountCutLink", func(t *testing.T) { fleetWordcount(t, hosts, servers, inv) })

	// The cut host is back; rsync sends a tree to every host.
	runIP(t, "ip", "link", "set", hosts[fleetSize-1].veth, "up")
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha\n"), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "b.bin"), bytes.Repeat([]byte{7}, 200_000), 0o644)
	r := runCLI(t, "rsync", "-g", "@"+inv, "--max-parallel", "8", "--timeout", "120s", src, "tree")
	if r.code != 0 {
		t.Fatalf("rsync: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("BENCH fleet32 rsync of 2 files (196 KiB) to %d hosts: %v, client peak RSS %.1f MiB",
		fleetSize, r.took.Round(time.Millisecond), float64(r.maxRSS)/(1<<20))
	for _, s := range servers {
		b, err := os.ReadFile(filepath.Join(s.remoteHome, "w", "tree", "sub", "b.bin"))
		if err != nil || len(b) != 200_000 {
			t.Errorf("host %s: tree/sub/b.bin: %d bytes, %v", s.host.ns, len(b), err)
		}
	}
}

// fleetWordcount runs a --merge wordcount over the fleet, fed through a
// FIFO; once every agent has read input, the link to the last host is cut
// (its veth set down). The run must still end with the counts of the whole
// text: the lost host's chunks are dealt to the others.
func fleetWordcount(t *testing.T, hosts []*nsHost, servers []*nsSSHD, inv string) {
	var text bytes.Buffer
	corpus.Generate(&text, 4<<20, 7)
	want := map[string]int64{}
	wordcount.Count(text.String(), want)
	fifo := filepath.Join(t.TempDir(), "input")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// The C wordcount: 32 agents compile it in moments, where the Go
	// guest's 3.6 MB would take minutes on a loaded 2-core machine.
	guest := testwasm.C(t, "wordcount")
	st, err := os.Stat(guest)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	defer cancel()
	p := startCLI(t, ctx, "run", "-g", "@"+inv, "--max-parallel", "8", "--input", fifo,
		"--chunk-size", "16KiB", "--merge", "--json", guest)
	cmd, stderr := p.cmd, p.stderr
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer cmd.Process.Kill()
	w := openFIFO(t, fifo, exited, stderr)
	defer w.Close()
	half := text.Len() / 2
	half += bytes.IndexByte(text.Bytes()[half:], ' ') + 1
	if _, err := w.Write(text.Bytes()[:half]); err != nil {
		t.Fatal(err)
	}
	victim := servers[len(servers)-1]
	if !testutil.Poll(2*time.Minute, func() bool {
		var read int64
		for pid := range procsMatching(victim.agentProcs()) {
			read += procRead(pid)
		}
		return read > st.Size()+64<<10 // the module, then input
	}) {
		t.Fatalf("the agent on %s never read input; stderr:\n%s", victim.host.ns, stderr.String())
	}
	runIP(t, "ip", "link", "set", hosts[len(hosts)-1].veth, "down")
	t.Logf("cut the link to %s", victim.host.ns)
	if _, err := w.Write(text.Bytes()[half:]); err != nil {
		t.Fatal(err)
	}
	w.Close()
	<-exited
	r := p.finish()
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("run's summary:\n%s", r.stderr)
	got := testutil.MergedCounts(t, r.stdout)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("merged counts over the fleet differ from internal/wordcount's: %d words, want %d\n%s", len(got), len(want), r.stderr)
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("h%02d: lost", fleetSize-1)) {
		t.Errorf("the summary does not mark h%02d lost:\n%s", fleetSize-1, r.stderr)
	}
	t.Logf("BENCH fleet32 wordcount of 4 MiB, one link cut: %v, client peak RSS %.1f MiB",
		r.took.Round(time.Millisecond), float64(r.maxRSS)/(1<<20))
}

// procRead is how many bytes process pid has read (rchar of /proc/PID/io).
func procRead(pid int) int64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// openFIFO opens path for writing once the CLI opens it for reading, and
// fails if the CLI exits first.
func openFIFO(t *testing.T, path string, exited <-chan struct{}, stderr *testutil.SyncBuffer) *os.File {
	t.Helper()
	opened := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			w = nil
		}
		opened <- w
	}()
	select {
	case w := <-opened:
		if w == nil {
			t.Fatal("cannot open the input FIFO")
		}
		return w
	case <-exited:
		// Unblock the open above, which then closes at once.
		if r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			if w := <-opened; w != nil {
				w.Close()
			}
			r.Close()
		}
		t.Fatalf("wasmnet run exited before reading its input:\n%s", stderr.String())
	}
	return nil
}
