package tests

// Helpers of the end-to-end tests of remote gateways (ssh=, exec=, network
// namespaces, qemu): making gateways with the real agent, running the example
// guests, and looking for processes left behind.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/primes"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wordcount"
)

// ctxFor returns a context that ends after d or with the test.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// makeGateway makes a gateway with the wasmnet agent built from the current
// sources (uploaded by ssh=, run by popen) and ends it with the test.
func makeGateway(t testing.TB, spec string, opts ...gateway.Option) *gateway.Gateway {
	t.Helper()
	g, err := tryGateway(t, spec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// tryGateway is makeGateway returning Make's error.
func tryGateway(t testing.TB, spec string, opts ...gateway.Option) (*gateway.Gateway, error) {
	t.Helper()
	opts = append([]gateway.Option{gateway.WithAgentPath(agentBin(t)), gateway.WithOutput(&testutil.SyncBuffer{})}, opts...)
	g, err := gateway.Make(ctxFor(t, testutil.WaitTimeout), spec, opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { exitGateway(t, g) })
	return g, nil
}

// exitGateway ends g, killing its agent if it takes more than 10 s.
func exitGateway(t testing.TB, g *gateway.Gateway) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.Exit(ctx)
}

// built holds the agent and the guests once built. testwasm caches builds
// under os.UserCacheDir(), which follows $HOME: a test that points $HOME at
// a fresh client side would otherwise rebuild them, Go build cache and all.
var built struct {
	sync.Mutex
	agent string
	mods  map[string]gateway.Module
}

// warm builds the agent and the guests the remote tests run; call it before
// changing $HOME.
func warm(t testing.TB) {
	t.Helper()
	agentBin(t)
	for _, name := range []string{"echo", "wordcount", "primes"} {
		loadModule(t, name)
	}
}

// agentBin is testwasm.Agent, kept for the life of the test binary.
func agentBin(t testing.TB) string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if built.agent == "" {
		built.agent = testwasm.Agent(t)
	}
	return built.agent
}

// loadModule loads testwasm.Go(t, name), kept for the life of the test binary.
func loadModule(t testing.TB, name string) gateway.Module {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if m, ok := built.mods[name]; ok {
		return m
	}
	m, err := gateway.LoadModule(testwasm.Go(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if built.mods == nil {
		built.mods = map[string]gateway.Module{}
	}
	built.mods[name] = m
	return m
}

func remoteExec(t testing.TB, g *gateway.Gateway, name string) *channel.Channel {
	t.Helper()
	ch, err := g.RemoteExec(ctxFor(t, 120*time.Second), loadModule(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// wordcountText is a text whose words span chunk borders and mix case and
// punctuation, in chunks.
func wordcountText() []string {
	var chunks []string
	for i := range 40 {
		chunks = append(chunks, fmt.Sprintf("The quick, brown fox %d jumps over the lazy dog's back; \"Don't\" stop%d! e-mail ", i%7, i%3),
			"Ünïcödé wörds and MORE words\tand more\nwor", "ds. ")
	}
	return chunks
}

// runWordcount runs the wordcount guest on g over chunks and returns its map.
func runWordcount(t testing.TB, g *gateway.Gateway, chunks []string) map[string]int64 {
	t.Helper()
	ch := remoteExec(t, g, "wordcount")
	defer ch.Close()
	for _, c := range chunks {
		if err := ch.Send(c); err != nil {
			t.Fatalf("wordcount on %s: send: %v", g.ID(), err)
		}
	}
	if err := ch.Send(nil); err != nil {
		t.Fatalf("wordcount on %s: send nil: %v", g.ID(), err)
	}
	var got map[string]int64
	if err := ch.ReceiveInto(ctxFor(t, 120*time.Second), &got); err != nil {
		t.Fatalf("wordcount on %s: %v", g.ID(), err)
	}
	return got
}

// checkWordcount runs wordcount on g and compares with internal/wordcount.
func checkWordcount(t testing.TB, g *gateway.Gateway) map[string]int64 {
	t.Helper()
	chunks := wordcountText()
	got := runWordcount(t, g, chunks)
	want := map[string]int64{}
	wordcount.Count(strings.Join(chunks, ""), want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("wordcount on %s:\n got %v\nwant %v", g.ID(), got, want)
	}
	return got
}

// runEcho sends items through the echo guest on g and returns what came back.
func runEcho(t testing.TB, g *gateway.Gateway, items []any) []any {
	t.Helper()
	ch := remoteExec(t, g, "echo")
	defer ch.Close()
	var out []any
	for _, v := range items {
		if err := ch.Send(v); err != nil {
			t.Fatalf("echo on %s: send: %v", g.ID(), err)
		}
		got, err := ch.Receive(ctxFor(t, testutil.WaitTimeout))
		if err != nil {
			t.Fatalf("echo on %s: %v", g.ID(), err)
		}
		out = append(out, got)
	}
	return out
}

// runPrimes asks the primes guest on g to count the primes of each range.
func runPrimes(t testing.TB, g *gateway.Gateway, ranges [][2]int64) []int64 {
	t.Helper()
	ch := remoteExec(t, g, "primes")
	defer ch.Close()
	var out []int64
	for _, r := range ranges {
		if err := ch.Send([]any{r[0], r[1]}); err != nil {
			t.Fatalf("primes on %s: send: %v", g.ID(), err)
		}
		var n int64
		if err := ch.ReceiveInto(ctxFor(t, 120*time.Second), &n); err != nil {
			t.Fatalf("primes on %s: %v", g.ID(), err)
		}
		if want := primes.Count(r[0], r[1]); n != want {
			t.Fatalf("primes on %s: %v gave %d, want %d", g.ID(), r, n, want)
		}
		out = append(out, n)
	}
	return out
}

// procsMatching returns the pids of processes whose command line contains
// sub, this process excepted. Zombies are left out: they hold nothing but a
// pid, and reparented ones are init's to reap.
func procsMatching(sub string) map[int]string {
	out := map[int]string{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() || isZombie(pid) {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if cmd := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})); strings.Contains(cmd, sub) {
			out[pid] = cmd
		}
	}
	return out
}

// isZombie says whether pid has exited but not been reaped; a pid with no
// process is not one.
func isZombie(pid int) bool {
	st, ok := procStat(pid)
	return ok && st.state == 'Z'
}

type stat struct {
	state byte
	ppid  int
}

func procStat(pid int) (stat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 2 {
		return stat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	return stat{state: f[0][0], ppid: ppid}, true
}

// descendants returns the live processes below pid.
func descendants(pid int) []int {
	children := map[int][]int{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if st, ok := procStat(p); ok && st.state != 'Z' {
			children[st.ppid] = append(children[st.ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, children[p]...)
		queue = append(queue, children[p]...)
	}
	return out
}

// waitNoProcs waits up to d until no process's command line contains sub,
// and fails naming those left.
func waitNoProcs(t testing.TB, sub string, d time.Duration) {
	t.Helper()
	if !testutil.Poll(d, func() bool { return len(procsMatching(sub)) == 0 }) {
		t.Errorf("%v after the end, processes matching %q remain: %v", d, sub, procsMatching(sub))
	}
}

// waitGone waits up to d until pid has exited, and fails if it has not.
func waitGone(t testing.TB, pid int, what string, d time.Duration) {
	t.Helper()
	if !testutil.Poll(d, func() bool { return !testutil.ProcessRunning(pid) }) {
		t.Errorf("%s (pid %d) still running %v later", what, pid, d)
	}
}

// within runs fn and fails if it took longer than d. fn must itself be
// bounded (its contexts end); within only reports.
func within(t testing.TB, d time.Duration, what string, fn func()) time.Duration {
	t.Helper()
	start := time.Now()
	fn()
	took := time.Since(start)
	if took > d {
		t.Errorf("%s took %v, want under %v", what, took, d)
	}
	return took
}
