//go:build linux

package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/resident"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// echoOnce runs one echo of v on g and fails the test unless it comes back.
func echoOnce(t *testing.T, g *Gateway, v string) {
	t.Helper()
	ch := remoteExec(t, g, "echo")
	defer ch.Close()
	if err := ch.Send(v); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch); got != v {
		t.Fatalf("echo on %s: got %#v, want %q", g.ID(), got, v)
	}
}

// parentOf returns the parent process of pid, from /proc.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// TestResidentServesManyGateways checks that popen//resident gateways
// share one agent process, not a child of the client, that outlives them.
func TestResidentServesManyGateways(t *testing.T) {
	testutil.ResidentHome(t)
	g1 := popen(t, "popen//resident")
	g2 := popen(t, "popen//resident")
	pid := g1.Info().PID
	if g2.Info().PID != pid {
		t.Fatalf("two resident gateways on agents %d and %d, want one", pid, g2.Info().PID)
	}
	if ppid := parentOf(t, pid); ppid == os.Getpid() {
		t.Fatalf("the resident agent %d is a child of the client", pid)
	}
	echoOnce(t, g1, "one")
	echoOnce(t, g2, "two")
	for _, g := range []*Gateway{g1, g2} {
		if err := g.Exit(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if !testutil.ProcessRunning(pid) {
		t.Fatalf("the resident agent %d ended with its gateways", pid)
	}
	g3 := popen(t, "popen//resident")
	if g3.Info().PID != pid {
		t.Fatalf("a later gateway on agent %d, want the resident %d", g3.Info().PID, pid)
	}
	echoOnce(t, g3, "three")

	// resident=no and the default start processes of their own.
	for _, g := range []*Gateway{popen(t, "popen//resident=no"), popen(t, "popen")} {
		if g.Info().PID == pid {
			t.Fatalf("%s was served by the resident agent", g.Spec())
		}
	}
	// WithResident makes it the default, which resident=no overrides.
	if g := popen(t, "popen", WithResident(true)); g.Info().PID != pid {
		t.Fatalf("popen under WithResident(true) on agent %d, want the resident %d", g.Info().PID, pid)
	}
	if g := popen(t, "popen//resident=no", WithResident(true)); g.Info().PID == pid {
		t.Fatalf("popen//resident=no under WithResident(true) was served by the resident agent")
	}
}

// TestResidentRaceStartsOne has gateways race to start the resident agent
// from nothing: they all end up on one. The test holds the agent's life
// lock until every gateway's starter runs, so that none finds an agent
// already listening and all of them race.
func TestResidentRaceStartsOne(t *testing.T) {
	testutil.ResidentHome(t)
	p := residentPathsT(t)
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	release, err := resident.Lock(testCtx(t), p.Live, false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	const n = 6
	pids := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			g, err := Make(testCtx(t), "popen//resident", WithAgentPath(testwasm.Agent(t)), WithOutput(io.Discard))
			if err != nil {
				t.Error(err)
				return
			}
			pids[i] = g.Info().PID
			g.Exit(testCtx(t))
		})
	}
	testutil.WaitFor(t, "every gateway's starter", func() bool { return len(starters(t)) == n })
	release()
	wg.Wait()
	for _, pid := range pids[1:] {
		if pid != pids[0] {
			t.Fatalf("racing gateways on agents %v, want one", pids)
		}
	}
}

// starters returns this process's children that run `wasmnet agent
// --resident`.
func starters(t *testing.T) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range stats {
		b, err := os.ReadFile(c)
		if err != nil || !strings.Contains(string(b), "agent\x00--resident\x00") {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(c)))
		if parentOf(t, pid) == os.Getpid() {
			out = append(out, pid)
		}
	}
	return out
}

// TestResidentIdlesOut checks that a resident agent exits once it has had
// no gateway for its idle time, and takes its socket with it.
func TestResidentIdlesOut(t *testing.T) {
	testutil.ResidentHome(t)
	g := popen(t, "popen//resident=300ms")
	pid := g.Info().PID
	p := residentPathsT(t)
	// Busy, it stays, however long its gateway takes.
	time.Sleep(time.Second)
	echoOnce(t, g, "still here")
	if err := g.Exit(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitProcessEnded(t, pid)
	if _, err := os.Lstat(p.Socket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the socket of an agent that idled out: %v, want it removed", err)
	}
	if g := popen(t, "popen//resident"); g.Info().PID == pid {
		t.Fatal("a gateway on an agent that idled out")
	}
}

// residentPathsT returns the resident paths of the test agent binary.
func residentPathsT(t *testing.T) resident.Paths {
	t.Helper()
	p, err := residentPaths(testwasm.Agent(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestResidentKilledMidRun kills the resident agent with SIGKILL while a
// guest on it waits: the gateway's channel fails with an error that says
// the resident agent died, and the next gateway starts a new one.
func TestResidentKilledMidRun(t *testing.T) {
	testutil.ResidentHome(t)
	g := popen(t, "popen//resident")
	pid := g.Info().PID
	ch := remoteExec(t, g, "echo")
	ch.Send("before")
	receive(t, ch)
	syscall.Kill(pid, syscall.SIGKILL)
	_, err := ch.Receive(testCtx(t))
	var lost *AgentLostError
	if !errors.As(err, &lost) || lost.PID != pid || !lost.Resident || !strings.Contains(err.Error(), "resident agent (pid "+strconv.Itoa(pid)+") died") {
		t.Fatalf("Receive after the resident agent was killed: %v, want an *AgentLostError of the resident agent, pid %d", err, pid)
	}
	g2 := popen(t, "popen//resident")
	if g2.Info().PID == pid {
		t.Fatal("a gateway on the killed agent")
	}
	echoOnce(t, g2, "after")
}

// TestResidentOfOtherBuildNotUsed runs a gateway on the resident agent of
// another build (the same program with bytes appended: another file) and
// then one of this build: they get an agent each.
func TestResidentOfOtherBuildNotUsed(t *testing.T) {
	testutil.ResidentHome(t)
	b, err := os.ReadFile(testwasm.Agent(t))
	if err != nil {
		t.Fatal(err)
	}
	older := filepath.Join(t.TempDir(), "wasmnet-older")
	if err := os.WriteFile(older, append(b, "older build"...), 0o755); err != nil {
		t.Fatal(err)
	}
	g1 := popen(t, "popen//resident//agent="+older)
	g2 := popen(t, "popen//resident")
	if g1.Info().PID == g2.Info().PID {
		t.Fatalf("the gateway of this build was served by the agent of another (pid %d)", g1.Info().PID)
	}
	echoOnce(t, g2, "this build")
}

// TestResidentRefusesPlanted plants at the resident socket's path what a
// client must not talk to, and checks that popen//resident refuses it with
// the reason, and that popen without it still works.
func TestResidentRefusesPlanted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, p resident.Paths)
		want  string
	}{
		{"regular file", func(t *testing.T, p resident.Paths) {
			if err := os.WriteFile(p.Socket, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "regular file, not a socket"},
		{"symlink to a socket", func(t *testing.T, p resident.Paths) {
			other := listenUnix(t, filepath.Join(p.Dir, "other.sock"))
			if err := os.Symlink(other, p.Socket); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link, not a socket"},
		{"socket others may use", func(t *testing.T, p resident.Paths) {
			listenUnix(t, p.Socket)
			if err := os.Chmod(p.Socket, 0o666); err != nil {
				t.Fatal(err)
			}
		}, "other users may use it"},
		{"directory others may read", func(t *testing.T, p resident.Paths) {
			if err := os.Chmod(p.Dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "other users may use it"},
		{"socket of another build", func(t *testing.T, p resident.Paths) {
			l, err := net.Listen("unix", p.Socket)
			if err != nil {
				t.Fatal(err)
			}
			os.Chmod(p.Socket, 0o600)
			t.Cleanup(func() { l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					io.WriteString(c, resident.Banner("0123456789abcdef0123", "old"))
					defer c.Close()
				}
			}()
		}, "not of this build"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.ResidentHome(t)
			p := residentPathsT(t)
			if err := os.MkdirAll(p.Dir, 0o700); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, p)
			_, err := Make(testCtx(t), "popen//resident", WithAgentPath(testwasm.Agent(t)), WithOutput(io.Discard))
			var refused *resident.RefusedError
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Make on a planted %s: %v, want a *resident.RefusedError saying %q", tc.name, err, tc.want)
			}
			echoOnce(t, popen(t, "popen"), "own process")
		})
	}
}

// listenUnix listens on path (0600 by the umask of a private directory's
// files) until the test ends, accepting nothing, and returns path.
func listenUnix(t *testing.T, path string) string {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o600)
	t.Cleanup(func() { l.Close() })
	return path
}

// TestResidentHostileGuestCostsOnlyItself runs guests that trap, loop and
// exhaust their memory on one gateway of a resident agent: each fails
// alone, and the gateway and another one of the same agent still work.
func TestResidentHostileGuestCostsOnlyItself(t *testing.T) {
	testutil.ResidentHome(t)
	g := popen(t, "popen//resident")
	other := popen(t, "popen//resident")
	pid := g.Info().PID
	if other.Info().PID != pid {
		t.Fatalf("two resident gateways on agents %d and %d", pid, other.Info().PID)
	}
	for _, tc := range []struct {
		name string
		run  func() *channel.Channel
		want string
	}{
		{"trap", func() *channel.Channel {
			ch := remoteExec(t, g, "panic")
			ch.Send("guest panic")
			return ch
		}, "guest panic"},
		{"loop", func() *channel.Channel { return remoteExec(t, g, "spin", WithTimeLimit(300*time.Millisecond)) }, "run-time limit"},
		{"memory", func() *channel.Channel {
			return runSource(t, g, "x = [0] * 100000000\n", WithMemoryLimit(64<<20))
		}, ""},
		{"source loop", func() *channel.Channel {
			return runSource(t, g, "while True:\n    pass\n", WithTimeLimit(time.Second))
		}, "time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := remoteErr(t, tc.run()); !strings.Contains(msg, tc.want) {
				t.Fatalf("%s: %q, want it to say %q", tc.name, msg, tc.want)
			}
			echoOnce(t, g, "same gateway after "+tc.name)
			echoOnce(t, other, "other gateway after "+tc.name)
			if !testutil.ProcessRunning(pid) {
				t.Fatalf("the resident agent ended after a guest's %s", tc.name)
			}
		})
	}
	// A Go guest cannot start within 1 MiB: that execution fails only.
	if _, err := g.RemoteExec(testCtx(t), module(t, "echo"), WithMemoryLimit(1<<20)); err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("echo within 1 MiB: %v, want an error naming the memory limit", err)
	}
	echoOnce(t, other, "after a failed start")
}

// nobody is the user id the other-user tests act as.
const nobody = 65534

// asNobody starts python3 with script and args as user nobody, and stops
// it when the test ends; its stdout is returned as a pipe.
func asNobody(t *testing.T, script string, args ...string) io.Reader {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("setpriv is missing (apt-get install -y util-linux): %v", err)
	}
	// Not the PATH's python3, which may be a shim in a directory nobody
	// cannot enter.
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is missing (apt-get install -y python3): %v", python, err)
	}
	argv := append([]string{"--reuid=" + strconv.Itoa(nobody), "--regid=" + strconv.Itoa(nobody), "--clear-groups", python, "-c", script}, args...)
	cmd := exec.Command(setpriv, argv...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if s := stderr.String(); s != "" {
			t.Logf("python3 as nobody: %s", s)
		}
	})
	return out
}

// nobodyDir returns a new directory that user nobody owns.
func nobodyDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	return dir
}

// readLineFrom reads one line from r, within testutil.WaitTimeout.
func readLineFrom(t *testing.T, r io.Reader) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		b, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(b)
	}()
	select {
	case s := <-got:
		return s
	case <-time.After(testutil.WaitTimeout):
		t.Fatal("no line from the helper process")
		return ""
	}
}

// TestResidentRefusesOtherUser checks both ends of the resident socket
// against another user: a client refuses a socket file of another user's
// and an agent of another user listening on a socket file of its own; the
// agent refuses a client of another user, who reached its socket.
func TestResidentRefusesOtherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to act as another user (CI runs as root)")
	}
	t.Run("socket file of another user", func(t *testing.T) {
		testutil.ResidentHome(t)
		p := residentPathsT(t)
		os.MkdirAll(p.Dir, 0o700)
		listenUnix(t, p.Socket)
		if err := os.Lchown(p.Socket, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		_, err := Make(testCtx(t), "popen//resident", WithAgentPath(testwasm.Agent(t)), WithOutput(io.Discard))
		if want := "belongs to user " + strconv.Itoa(nobody); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Make: %v, want a refusal saying %q", err, want)
		}
	})
	t.Run("agent of another user", func(t *testing.T) {
		testutil.ResidentHome(t)
		p := residentPathsT(t)
		os.MkdirAll(p.Dir, 0o700)
		theirs := filepath.Join(nobodyDir(t), "s")
		out := asNobody(t, `import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen()
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(sys.argv[2].encode())
`, theirs, resident.Banner(p.Key, "theirs"))
		if s := readLineFrom(t, out); s != "listening" {
			t.Fatalf("helper: %q", s)
		}
		// Planted as ours: the file passes every check but the peer's.
		if err := os.Rename(theirs, p.Socket); err != nil {
			t.Fatal(err)
		}
		os.Lchown(p.Socket, 0, 0)
		os.Chmod(p.Socket, 0o600)
		_, err := Make(testCtx(t), "popen//resident", WithAgentPath(testwasm.Agent(t)), WithOutput(io.Discard))
		if want := "runs as user " + strconv.Itoa(nobody); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Make: %v, want a refusal saying %q", err, want)
		}
	})
	t.Run("client of another user", func(t *testing.T) {
		testutil.ResidentHome(t)
		g := popen(t, "popen//resident")
		p := residentPathsT(t)
		// Reachable by nobody through a link in a directory of theirs.
		reach := filepath.Join(nobodyDir(t), "s")
		if err := os.Link(p.Socket, reach); err != nil {
			t.Fatal(err)
		}
		os.Chmod(reach, 0o777)
		out := asNobody(t, `import socket, sys
c = socket.socket(socket.AF_UNIX)
c.connect(sys.argv[1])
print("got %r" % c.recv(100), flush=True)
`, reach)
		if s := readLineFrom(t, out); s != "got b''" {
			t.Fatalf("a client of another user read %s, want the connection closed without a word", s)
		}
		echoOnce(t, g, "own user still served")
	})
}

// TestResidentSpecOption checks the values resident= takes, and that a
// shared agent is not given a gateway's own directory or environment.
func TestResidentSpecOption(t *testing.T) {
	for spec, want := range map[string]string{
		"popen//resident=soon":              "want yes, no or an idle time",
		"popen//resident=-5m":               "want yes, no or an idle time",
		"exec=true//resident":               `unknown option "resident"`,
		"socket=127.0.0.1:1//resident":      `unknown option "resident"`,
		"popen//resident//chdir=/tmp":       "takes no chdir=, env: or nice=",
		"popen//resident=30m//env:A=b":      "takes no chdir=, env: or nice=",
		"popen//resident//nice=5":           "takes no chdir=, env: or nice=",
		"ssh=127.0.0.1//resident//chdir=/x": "takes no chdir=, env: or nice=",
		"popen//resident//share=yes":        "not both",
		"popen//resident=10m//share=no":     "not both",
	} {
		_, err := Make(testCtx(t), spec, WithAgentPath(testwasm.Agent(t)), WithOutput(io.Discard))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Make(%q): %v, want an error saying %q", spec, err, want)
		}
	}
	for _, spec := range []string{"popen//resident", "popen//resident=yes", "popen//resident=no", "popen//resident=90s", "ssh=h//resident=1h"} {
		if _, err := ParseSpec(spec); err != nil {
			t.Errorf("ParseSpec(%q): %v", spec, err)
		}
	}
	// Under WithResident, a spec with its own directory, or that chose
	// its process with share=, keeps a process.
	testutil.ResidentHome(t)
	for _, spec := range []string{"popen//chdir=" + t.TempDir(), "popen//share=no"} {
		g := popen(t, spec, WithResident(true))
		if pids := testutil.ResidentPIDs(t, os.Getenv("XDG_CACHE_HOME")); len(pids) != 0 || parentOf(t, g.Info().PID) != os.Getpid() {
			t.Fatalf("%s under WithResident: agent %d, resident agents %v; want a child process and no resident agent", spec, g.Info().PID, pids)
		}
	}
}
