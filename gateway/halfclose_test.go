package gateway

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/channel"
)

// TestHalfCloseGuestsAnswerAfterEndOfInput: after the client's CloseSend,
// the wordcount guest of every SDK (Go, C, Rust) sees the end of its input
// without the nil marker and still sends its answer.
func TestHalfCloseGuestsAnswerAfterEndOfInput(t *testing.T) {
	g := popen(t, "popen")
	for lang, m := range everySDK(t, "wordcount") {
		ch, err := g.RemoteExec(testCtx(t), m)
		if err != nil {
			t.Fatal(err)
		}
		ch.Send("the cat and the")
		ch.Send(" hat")
		if err := ch.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if err := ch.Send("late"); !errors.Is(err, channel.ErrClosed) {
			t.Errorf("%s: Send after CloseSend: %v", lang, err)
		}
		v, err := ch.Receive(testCtx(t))
		want := map[string]any{"the": int64(2), "cat": int64(1), "and": int64(1), "hat": int64(1)}
		if err != nil || !reflect.DeepEqual(v, want) {
			t.Fatalf("%s: got %v, %v; want %v", lang, v, err, want)
		}
		if _, err := ch.Receive(testCtx(t)); err != io.EOF {
			t.Fatalf("%s: after the answer: %v, want io.EOF", lang, err)
		}
		if err := ch.WaitClose(testCtx(t)); err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
	}
}

// TestHalfCloseByGuest: a Starlark guest half-closes its side; the client
// receives the end of the stream and can still send to the guest.
func TestHalfCloseByGuest(t *testing.T) {
	g := popen(t, "popen")
	ch := runSource(t, g, `
channel.send("first")
channel.close_send()
channel.send("second")
`)
	if v := receive(t, ch); v != "first" {
		t.Fatalf("got %v", v)
	}
	if msg := remoteErr(t, ch); !strings.Contains(msg, "send") || !strings.Contains(msg, "prog.star:4:") {
		t.Fatalf("send after close_send: %q", msg)
	}

	ch = runSource(t, g, `
channel.close_send()
channel.receive()
`)
	if _, err := ch.Receive(testCtx(t)); err != io.EOF {
		t.Fatalf("after the guest's half-close: %v, want io.EOF", err)
	}
	if err := ch.Send("still heard"); err != nil {
		t.Fatalf("send after the guest's half-close: %v", err)
	}
	if err := ch.WaitClose(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}
