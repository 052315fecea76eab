package gateway

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// imageRun runs one execution of the imagecheck guest and returns its report.
func imageRun(t *testing.T, g *Gateway, m Module, secret, command string, opts ...ExecOption) map[string]any {
	t.Helper()
	ch, err := g.RemoteExec(testCtx(t), m, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(map[string]any{"secret": secret, "command": command}); err != nil {
		t.Fatal(err)
	}
	v := receive(t, ch).(map[string]any)
	_, err = ch.Receive(testCtx(t))
	if command == "trap" {
		if err == nil || !strings.Contains(err.Error(), "imagecheck: trap") {
			t.Fatalf("trap: got %v, want the guest's panic", err)
		}
	}
	ch.Close()
	return v
}

// fresh reports whether an imagecheck report shows a fresh instance: no
// secret of another execution, main and init run once.
func fresh(report map[string]any) bool {
	return report["found"] == int64(0) && report["runs"] == int64(1) && report["init_runs"] == int64(1)
}

// imageRuns runs imagecheck commands on g one after another, fails the
// test when one finds state of an earlier one, and returns g's status.
func imageRuns(t *testing.T, g *Gateway, m Module, secret string, commands ...string) Status {
	t.Helper()
	for i, command := range commands {
		if got := imageRun(t, g, m, secret, command); !fresh(got) {
			t.Fatalf("execution %d (%s) found state of an earlier one: %v", i, command, got)
		}
	}
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestImageNeverLeaks runs a guest that writes a secret into a variable,
// the heap and memory it grows (once returning, once trapping), and then
// executions that look for it anywhere in their memory, as a command and
// as a reactor restored from the agent's image of its initialised state.
// Every reactor execution after the first also shows that the globals
// were restored: the Go runtime keeps its stack pointer in one, and traps
// at once when it starts from the module's initial value.
func TestImageNeverLeaks(t *testing.T) {
	builds := map[string]string{
		"command": testwasm.Go(t, "imagecheck"),
		"reactor": testwasm.GoReactor(t, "imagecheck"),
	}
	for name, path := range builds {
		t.Run(name, func(t *testing.T) {
			m, err := LoadModule(path)
			if err != nil {
				t.Fatal(err)
			}
			st := imageRuns(t, popen(t, "popen"), m, "image-secret-7f3a91c2",
				"write", "look", "trap", "look", "write", "look", "note", "look", "note", "note", "trap", "look")
			// The first reactor execution runs _initialize and is
			// imaged, unless an earlier agent left that image on disk;
			// the others are restored from it. None is kept: every
			// command here grows the memory.
			want := map[string][]int64{"command": {0}, "reactor": {11, 12}}[name]
			if !slices.Contains(want, st.ImageStarts) || st.KeptStarts != 0 {
				t.Fatalf("%d executions restored from an image and %d on a kept instance, want %v and 0",
					st.ImageStarts, st.KeptStarts, want)
			}
		})
	}
}

// TestKeptInstanceNeverLeaks runs, on one agent, executions of a reactor
// that write a secret into a variable and the heap without growing their
// memory, so that the agent keeps their instance and runs the next
// execution on it; each next execution looks for the secret below its own
// heap allocations, where the previous one wrote it, and counts its runs
// in a variable that is 1 in a fresh instance. Executions that grow their
// memory, trap or close their standard output in between are not kept.
func TestKeptInstanceNeverLeaks(t *testing.T) {
	m, err := LoadModule(testwasm.GoReactor(t, "imagecheck"))
	if err != nil {
		t.Fatal(err)
	}
	st := imageRuns(t, popen(t, "popen"), m, "kept-secret-0c41d9e7",
		"small", "peek", "small", "small", "peek", "write", "small", "trap", "peek", "small", "peek")
	// Kept: the instances of the small and peek executions, but for the
	// first when it took the image (an earlier agent may have left that
	// on disk); the client sees an execution end only once its instance
	// is kept, so the next one finds it unless the agent went idle in
	// between (250 ms) and dropped it. Not kept: write (it grows) and
	// trap. So 7 or 8 executions run on a kept instance, fewer on a
	// machine slow enough to idle between them.
	if st.KeptStarts < 1 || st.KeptStarts > 8 {
		t.Fatalf("%d executions ran on a kept instance, want 1 to 8 (7 or 8 unless the agent idled)", st.KeptStarts)
	}
}

// TestKeptInstancesConcurrently runs executions of the reactor from
// several goroutines at once on one agent, so that instances are kept,
// taken and reset while others run: none finds another's secret or runs.
func TestKeptInstancesConcurrently(t *testing.T) {
	m, err := LoadModule(testwasm.GoReactor(t, "imagecheck"))
	if err != nil {
		t.Fatal(err)
	}
	g := popen(t, "popen")
	const workers, rounds = 6, 8
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range rounds {
				command := []string{"small", "peek"}[(w+i)%2]
				ch, err := g.RemoteExec(testCtx(t), m)
				if err == nil {
					err = ch.Send(map[string]any{"secret": fmt.Sprintf("concurrent-secret-%d-%d", w, i), "command": command})
				}
				var v any
				if err == nil {
					v, err = ch.Receive(testCtx(t))
				}
				if got, ok := v.(map[string]any); err == nil && (!ok || !fresh(got)) {
					err = fmt.Errorf("worker %d, execution %d (%s) found state of an earlier one: %v", w, i, command, v)
				}
				if ch != nil {
					ch.Close()
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.KeptStarts == 0 {
		t.Fatal("no execution ran on a kept instance")
	}
}

// TestImageNotTakenWithArgs checks that a reactor asked for arguments or
// environment runs its own _initialize, which reads them, and that an
// execution with them does not become the image of one without.
func TestImageNotTakenWithArgs(t *testing.T) {
	reactor, err := LoadModule(testwasm.GoReactor(t, "sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	g := popen(t, "popen")
	run := func(opts ...ExecOption) map[string]any {
		ch, err := g.RemoteExec(testCtx(t), reactor, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return receive(t, ch).(map[string]any)
	}
	first := run(WithArgs("first-arg"))
	second := run()
	third := run(WithArgs("third-arg"))
	fourth := run()
	if a := first["args"].([]any); len(a) != 2 || a[1] != "first-arg" {
		t.Fatalf("first execution's args: %v", a)
	}
	if a := second["args"].([]any); len(a) != 1 {
		t.Fatalf("second execution sees args %v, want only the program name", a)
	}
	if a := third["args"].([]any); len(a) != 2 || a[1] != "third-arg" {
		t.Fatalf("third execution's args: %v", a)
	}
	if a := fourth["args"].([]any); len(a) != 1 {
		t.Fatalf("fourth execution, from the image, sees args %v", a)
	}
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	// The fourth starts from the image, restored or on the second's
	// kept instance; the second too when an earlier agent left the image
	// on disk, else it takes it.
	if n := st.ImageStarts + st.KeptStarts; n < 1 || n > 2 {
		t.Fatalf("%d executions restored from an image and %d on a kept instance, want 1 or 2 in all (the fourth, maybe the second)",
			st.ImageStarts, st.KeptStarts)
	}
}

// TestIdleAgentGivesMemoryBack runs guests that grow their memory to
// about 48 MiB and checks that the agent, once idle, is back near the
// size it had before them.
func TestIdleAgentGivesMemoryBack(t *testing.T) {
	m, err := LoadModule(testwasm.GoReactor(t, "imagecheck"))
	if err != nil {
		t.Fatal(err)
	}
	g := popen(t, "popen")
	imageRun(t, g, m, "warm-up", "look")
	before := idleRSS(t, g)
	for range 3 {
		imageRun(t, g, m, "grow", "write")
	}
	after := idleRSS(t, g)
	if after > before+16<<20 {
		t.Fatalf("idle agent RSS %d MiB after guests of 48 MiB, %d MiB before them", after>>20, before>>20)
	}
}

// idleRSS waits until g's agent has run nothing for a second and returns
// its RSS.
func idleRSS(t *testing.T, g *Gateway) int64 {
	t.Helper()
	testutil.WaitFor(t, "the agent to run nothing", func() bool {
		st, err := g.RemoteStatus(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		return st.Executing == 0
	})
	// Idle for a second: what is measured is the memory an agent keeps.
	time.Sleep(time.Second)
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.RSS == 0 {
		t.Fatal("the agent reports no RSS (no /proc?)")
	}
	return st.RSS
}
