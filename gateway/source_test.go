package gateway

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/starlarkprog"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// starlarkInterp returns the interpreter built from the current sources.
func starlarkInterp(t testing.TB) Module {
	t.Helper()
	b, err := os.ReadFile(testwasm.Starlark(t))
	if err != nil {
		t.Fatal(err)
	}
	return ModuleBytes(b)
}

// runSource starts src on g with the interpreter of the current sources.
func runSource(t *testing.T, g *Gateway, src string, opts ...ExecOption) *channel.Channel {
	t.Helper()
	ch, err := g.RemoteExec(testCtx(t), starlarkInterp(t).WithSource("prog.star", src), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// remoteErr waits for ch to close and returns its remote error's text.
func remoteErr(t *testing.T, ch *channel.Channel) string {
	t.Helper()
	err := ch.WaitClose(testCtx(t))
	var re *channel.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("WaitClose: got %v, want a remote error", err)
	}
	return re.Message
}

// TestSourceExecnetStyle is execnet's first example: one call, no build.
func TestSourceExecnetStyle(t *testing.T) {
	g := popen(t, "popen")
	ch := runSource(t, g, "channel.send(channel.receive() * 2)")
	ch.Send(21)
	if v := receive(t, ch); v != int64(42) {
		t.Fatalf("got %#v, want 42", v)
	}
	if err := ch.WaitClose(testCtx(t)); err != nil {
		t.Fatalf("WaitClose: %v", err)
	}
}

func TestSourceValuesRoundTrip(t *testing.T) {
	g := popen(t, "popen")
	ch := runSource(t, g, "for v in channel:\n    channel.send(v)\n")
	want := []any{nil, true, int64(-7), uint64(1 << 63), 2.5, "s", []byte{0, 1},
		[]any{int64(1), []any{"x"}}, map[string]any{"k": map[string]any{"n": int64(1)}},
		map[any]any{int64(1): "one"}}
	for _, v := range want {
		if err := ch.Send(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range want {
		if got := receive(t, ch); !reflect.DeepEqual(got, w) {
			t.Fatalf("got %#v, want %#v", got, w)
		}
	}
	ch.Close()
}

// TestSourceErrorBacktrace checks that a failing program's error names the
// file and line of every frame, as execnet's remote traceback does.
func TestSourceErrorBacktrace(t *testing.T) {
	g := popen(t, "popen")
	ch := runSource(t, g, "def inner():\n    fail('boom')\n\ndef outer():\n    inner()\n\nouter()\n")
	msg := remoteErr(t, ch)
	for _, want := range []string{"prog.star:7:", "prog.star:5:", "prog.star:2:", "boom"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}

	ch = runSource(t, g, "x = 1\ny = (\n")
	if msg := remoteErr(t, ch); !strings.Contains(msg, "prog.star:3:") {
		t.Errorf("syntax error %q does not name prog.star:3", msg)
	}
	checkAgentAlive(t, g)
}

func TestSourceReceiveTimeout(t *testing.T) {
	g := popen(t, "popen")
	ch := runSource(t, g, `
channel.send(channel.receive(timeout=0.05, default="none came"))
channel.send(channel.receive(timeout=30))
channel.receive(timeout=0.01)
`)
	if v := receive(t, ch); v != "none came" {
		t.Fatalf("got %#v, want the default", v)
	}
	ch.Send("late")
	if v := receive(t, ch); v != "late" {
		t.Fatalf("got %#v, want late", v)
	}
	if msg := remoteErr(t, ch); !strings.Contains(msg, "timed out") || !strings.Contains(msg, "prog.star:4:") {
		t.Fatalf("a timeout without default gave %q", msg)
	}
}

// TestSourceChannelsOverChannels passes channels both ways.
func TestSourceChannelsOverChannels(t *testing.T) {
	g := popen(t, "popen")
	ch := runSource(t, g, `
mine = newchannel()
channel.send({"chan": mine})
yours = channel.receive()
yours.send("hello from starlark")
for v in mine:
    mine.send(v + 1)
`)
	m := receive(t, ch).(map[string]any)
	theirs := m["chan"].(*channel.Channel)
	mine, err := g.NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	ch.Send(mine)
	if v := receive(t, mine); v != "hello from starlark" {
		t.Fatalf("on the client's channel: got %#v", v)
	}
	theirs.Send(1)
	if v := receive(t, theirs); v != int64(2) {
		t.Fatalf("on the guest's channel: got %#v", v)
	}
	theirs.Close()
	if err := ch.WaitClose(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestSourcePrintAndLibraries(t *testing.T) {
	out := &testutil.SyncBuffer{}
	g := popen(t, "popen//id=s1", WithOutput(out))
	ch := runSource(t, g, `
print("hello", 1 + 1)
channel.send(json.encode({"a": [1, 2]}))
channel.send(math.sqrt(16.0))
channel.send(len(argv))
`, WithArgs("x", "y"))
	want := []any{`{"a":[1,2]}`, 4.0, int64(2)}
	for _, w := range want {
		if got := receive(t, ch); !reflect.DeepEqual(got, w) {
			t.Fatalf("got %#v, want %#v", got, w)
		}
	}
	if err := ch.WaitClose(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the print output", func() bool { return strings.Contains(out.String(), "] hello 2\n") })
	if !strings.Contains(out.String(), "[s1 ch") {
		t.Fatalf("print output %q is not tagged with the gateway", out.String())
	}
}

// TestSourceClockOnlyWhenGranted checks that time.now() fails without the
// walltime grant and gives the real time with it.
func TestSourceClockOnlyWhenGranted(t *testing.T) {
	g := popen(t, "popen")
	src := "channel.send(time.now().unix)"
	if msg := remoteErr(t, runSource(t, g, src)); !strings.Contains(msg, "clock is not granted") {
		t.Fatalf("time.now without a grant: %q", msg)
	}
	ch := runSource(t, g, src, WithWalltime())
	v, ok := receive(t, ch).(int64)
	if now := time.Now().Unix(); !ok || v < now-60 || v > now+60 {
		t.Fatalf("time.now().unix with the grant: got %#v, want about %d", v, now)
	}
}

// TestSourceLimits checks that source guests have the limits of any guest
// and that what breaks one costs that guest only.
func TestSourceLimits(t *testing.T) {
	g := popen(t, "popen")
	msg := remoteErr(t, runSource(t, g, "while True:\n    pass\n", WithTimeLimit(2*time.Second)))
	if !strings.Contains(msg, "time") {
		t.Errorf("a loop past the time limit: %q", msg)
	}
	ch := runSource(t, g, "x = [0] * 100000000\n", WithMemoryLimit(64<<20))
	if err := ch.WaitClose(testCtx(t)); err == nil {
		t.Errorf("a list past the memory limit ended without error")
	}
	// A value nested past the converter's depth fails the program, not the agent.
	deep := any("leaf")
	for range 600 {
		deep = []any{deep}
	}
	ch = runSource(t, g, "channel.receive()")
	ch.Send(deep)
	if msg := remoteErr(t, ch); !strings.Contains(msg, "nested deeper") {
		t.Errorf("a deep value: %q", msg)
	}
	// A list that holds itself cannot be sent.
	if msg := remoteErr(t, runSource(t, g, "x = []\nx.append(x)\nchannel.send(x)\n")); !strings.Contains(msg, "nested deeper") {
		t.Errorf("a list holding itself: %q", msg)
	}
	// A first message that is not a program.
	ch, err := g.RemoteExec(testCtx(t), starlarkInterp(t))
	if err != nil {
		t.Fatal(err)
	}
	ch.Send(42)
	if msg := remoteErr(t, ch); !strings.Contains(msg, "first message must be the program") {
		t.Errorf("a bad first message: %q", msg)
	}
	checkAgentAlive(t, g)
}

// TestSourceEmbeddedInterpreterIsCurrent checks that the interpreter this
// build embeds (make starlark) is the one the current sources give, so
// Source runs what the tests test.
func TestSourceEmbeddedInterpreterIsCurrent(t *testing.T) {
	emb, err := Interpreter()
	if err != nil {
		t.Fatalf("%v (the tests need the embedded interpreter: run make starlark, or make test)", err)
	}
	want := starlarkInterp(t)
	if emb.Sum() != want.Sum() {
		t.Fatalf("embedded interpreter %s differs from a build of the current sources %s: run make starlark", emb.Sum()[:12], want.Sum()[:12])
	}
	g := popen(t, "popen")
	ch, err := g.RemoteExec(testCtx(t), Source("channel.send(channel.receive() + 1)"))
	if err != nil {
		t.Fatal(err)
	}
	ch.Send(1)
	if v := receive(t, ch); v != int64(2) {
		t.Fatalf("got %#v", v)
	}
	if !bytes.Equal([]byte(Source("x").Name()), []byte("<source>")) || !Source("x").IsSource() {
		t.Errorf("Source: name %q", Source("x").Name())
	}
}

// TestSourceCompiledByTheClient checks the compiled form a client sends
// beside the source: every name the client compiles as predeclared is one
// the interpreter gives; the interpreter runs the compiled form when it
// can read it, and the source when it cannot.
func TestSourceCompiledByTheClient(t *testing.T) {
	g := popen(t, "popen")
	for _, name := range starlarkprog.Predeclared() {
		src := "x = " + name + "\nchannel.send(type(x))\n"
		if starlarkprog.Compile("prog.star", src) == nil {
			t.Fatalf("%s: the client does not compile it", name)
		}
		ch := runSource(t, g, src)
		if v, err := ch.Receive(testCtx(t)); err != nil {
			t.Fatalf("%s: %v (value %v)", name, err, v)
		}
	}
	run := func(p starlarkprog.Program) any {
		t.Helper()
		ch, err := g.RemoteExec(testCtx(t), starlarkInterp(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Send(&p); err != nil {
			t.Fatal(err)
		}
		return receive(t, ch)
	}
	compiled := starlarkprog.Compile("a.star", `channel.send("compiled")`)
	if got := run(starlarkprog.Program{File: "b.star", Source: `channel.send("source")`, Compiled: compiled}); got != "compiled" {
		t.Fatalf("with a readable compiled form the interpreter ran %v", got)
	}
	for _, unreadable := range [][]byte{[]byte("not a program"), compiled[:len(compiled)/2], append([]byte("sky!"), compiled...)} {
		if got := run(starlarkprog.Program{File: "b.star", Source: `channel.send("source")`, Compiled: unreadable}); got != "source" {
			t.Fatalf("with an unreadable compiled form the interpreter ran %v", got)
		}
	}
	checkAgentAlive(t, g)
}
