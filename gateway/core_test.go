package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

func remoteExec(t *testing.T, g *Gateway, name string, opts ...ExecOption) *channel.Channel {
	t.Helper()
	ch, err := g.RemoteExec(testCtx(t), module(t, name), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func receive(t *testing.T, ch *channel.Channel) any {
	t.Helper()
	v, err := ch.Receive(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEcho(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "echo")
	want := []any{int64(1), "two", []byte{3}, map[string]any{"four": []any{4.5, nil, true}}}
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

func TestReceiveTimeoutLeavesChannelUsable(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "echo")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := ch.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a timeout", err)
	}
	ch.Send("still here")
	if v := receive(t, ch); v != "still here" {
		t.Fatalf("got %v", v)
	}
}

func TestGuestReceiveTimeout(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "timeout")
	if v := receive(t, ch); v != "timeout" {
		t.Fatalf("got %v, want the guest's timeout report", v)
	}
	ch.Send("after")
	if v := receive(t, ch); v != "after" {
		t.Fatalf("got %v", v)
	}
	if _, err := ch.Receive(testCtx(t)); err != io.EOF {
		t.Fatalf("got %v, want io.EOF when the guest returns", err)
	}
}

func TestRemoteErrorCarriesPanicText(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "panic")
	ch.Send("the guest gave up: 42")
	_, err := ch.Receive(testCtx(t))
	var re *channel.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Message, "panic: the guest gave up: 42") {
		t.Fatalf("got %v, want a RemoteError with the panic text", err)
	}
	if _, err := ch.Receive(testCtx(t)); err != io.EOF {
		t.Fatalf("after the RemoteError: got %v, want io.EOF", err)
	}
	if err := ch.WaitClose(testCtx(t)); !errors.As(err, &re) {
		t.Fatalf("WaitClose: got %v, want the RemoteError", err)
	}
}

func TestItemsBeforeErrorArriveFirst(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "closeerr")
	ch.Send("bad input")
	if v := receive(t, ch); v != "before" {
		t.Fatalf("got %v, want the item sent before the error", v)
	}
	var re *channel.RemoteError
	if _, err := ch.Receive(testCtx(t)); !errors.As(err, &re) || re.Message != "bad input" {
		t.Fatalf("got %v", err)
	}
}

func TestSendAfterCloseFails(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "echo")
	ch.Close()
	if err := ch.Send(1); !errors.Is(err, channel.ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
	// A guest that returned closed its channel: sends fail too.
	ch = remoteExec(t, g, "closeerr")
	ch.Send("x")
	ch.WaitClose(testCtx(t))
	if err := ch.Send(1); !errors.Is(err, channel.ErrClosed) {
		t.Fatalf("after the guest closed: got %v, want ErrClosed", err)
	}
}

func TestCallbackEndmarker(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "echo")
	var mu sync.Mutex
	var got []any
	done := make(chan struct{})
	ch.SetCallback(func(v any) {
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
		if v == "END" {
			close(done)
		}
	}, "END")
	for i := range 3 {
		ch.Send(i)
	}
	testutil.WaitFor(t, "three items", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
	ch.Close()
	<-done
	if fmt.Sprint(got) != "[0 1 2 END]" {
		t.Fatalf("got %v", got)
	}
}

func TestCallbackEndmarkerWhenAgentKilled(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "sleeper")
	testutil.WaitStarted(t, ch)
	done := make(chan any, 1)
	ch.SetCallback(func(v any) { done <- v }, "END")
	proc, err := os.FindProcess(g.Info().PID)
	if err != nil {
		t.Fatal(err)
	}
	proc.Kill()
	select {
	case v := <-done:
		if v != "END" {
			t.Fatalf("got %v", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no endmarker after the agent was killed")
	}
	if err := ch.WaitClose(testCtx(t)); !errors.Is(err, io.EOF) || err == io.EOF {
		t.Fatalf("WaitClose: got %v, want a lost connection wrapping io.EOF", err)
	}
}

func TestChannelPassedInsideStructure(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "chanpass")
	// The guest's channel, used from the client.
	v := receive(t, ch)
	theirs, ok := v.(map[string]any)["chan"].(*channel.Channel)
	if !ok {
		t.Fatalf("got %#v, want {chan: channel}", v)
	}
	theirs.Send("ping")
	if v := receive(t, theirs); v != "ping" {
		t.Fatalf("on the guest's channel: got %v", v)
	}
	// The client's channel, used from the guest.
	mine, err := g.NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	ch.Send(map[string]any{"chan": mine})
	if v := receive(t, mine); v != "hello from guest" {
		t.Fatalf("on the client's channel: got %v", v)
	}
	mine.Send("pong")
	if v := receive(t, mine); v != "pong" {
		t.Fatalf("echo on the client's channel: got %v", v)
	}
	mine.Close()
	theirs.Close()
	ch.Close()
}

func TestReaderWriter(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "echo")
	w := ch.Writer()
	r := ch.Reader()
	io.WriteString(w, "hello, ")
	io.WriteString(w, "guest")
	buf := make([]byte, len("hello, guest"))
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "hello, guest" {
		t.Fatalf("got %q, %v", buf, err)
	}
	w.Close()
}

func TestAll(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "primes")
	ch.Send([]any{0, 100})
	ch.Send([]any{100, 1000})
	var got []any
	for v, err := range ch.All(testCtx(t)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
		if len(got) == 2 {
			ch.Close()
		}
	}
	if fmt.Sprint(got) != "[25 143]" {
		t.Fatalf("got %v", got)
	}
}

func TestThousandChannels(t *testing.T) {
	g := popen(t, "popen")
	m := module(t, "echo")
	const n = 1000
	chans := make([]*channel.Channel, n)
	for i := range chans {
		ch, err := g.RemoteExec(testCtx(t), m, WithMemoryLimit(32<<20))
		if err != nil {
			t.Fatalf("exec %d: %v", i, err)
		}
		chans[i] = ch
	}
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Executing != n {
		t.Fatalf("%d executions running, want %d", st.Executing, n)
	}
	for i, ch := range chans {
		if err := ch.Send(i); err != nil {
			t.Fatal(err)
		}
	}
	for i, ch := range chans {
		if v := receive(t, ch); v != int64(i) {
			t.Fatalf("channel %d echoed %v", i, v)
		}
		ch.Close()
	}
}

// TestGuestOutputTagged checks that what a guest writes to stderr reaches
// the writer the client chose, a line at a time, tagged with gateway and
// channel, and never the protocol stream.
func TestGuestOutputTagged(t *testing.T) {
	out := &testutil.SyncBuffer{}
	g := popen(t, "popen//id=w7", WithOutput(out))
	ch := remoteExec(t, g, "panic")
	ch.Send("visible on stderr")
	ch.WaitClose(testCtx(t))
	want := fmt.Sprintf("[w7 ch%d err] panic: visible on stderr\n", ch.ID())
	if !strings.Contains(out.String(), want) {
		t.Fatalf("output %q lacks the line %q", out.String(), want)
	}
	// The agent is still speaking the protocol.
	checkAgentAlive(t, g)
}
