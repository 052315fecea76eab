package gateway

import (
	"io"
	"testing"

	"github.com/wasmnet/wasmnet/channel"
)

// TestHalfCloseByGuestSDKs: the halfclose guest of every SDK (Go, C,
// Rust) half-closes its main channel after its last item. The client's
// Receive then returns io.EOF, while the client can still send and the
// guest still receives: it forwards what arrives to a channel of its own.
func TestHalfCloseByGuestSDKs(t *testing.T) {
	g := popen(t, "popen")
	for lang, m := range everySDK(t, "halfclose") {
		t.Run(lang, func(t *testing.T) {
			ch, err := g.RemoteExec(testCtx(t), m)
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			const n = 3
			if err := ch.Send(n); err != nil {
				t.Fatal(err)
			}
			back, ok := receive(t, ch).(*channel.Channel)
			if !ok {
				t.Fatal("the first item is not a channel")
			}
			for i := range int64(n) {
				if v := receive(t, ch); v != i {
					t.Fatalf("item %d: got %v", i, v)
				}
			}
			if v, err := ch.Receive(testCtx(t)); err != io.EOF {
				t.Fatalf("after the guest's half-close: got %v, %v; want io.EOF", v, err)
			}
			for _, v := range []string{"still", "heard"} {
				if err := ch.Send(v); err != nil {
					t.Fatalf("send after the guest's half-close: %v", err)
				}
			}
			if err := ch.CloseSend(); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"still", "heard"} {
				if v := receive(t, back); v != want {
					t.Fatalf("forwarded by the guest: got %v, want %q", v, want)
				}
			}
			if v, err := back.Receive(testCtx(t)); err != io.EOF {
				t.Fatalf("after the forwarded items: got %v, %v; want io.EOF", v, err)
			}
			// Both sides half-closed: the channel is over, and the guest
			// ended normally (a send that did not fail after its
			// close_send would have ended it with an error).
			if err := ch.WaitClose(testCtx(t)); err != nil {
				t.Fatalf("WaitClose: %v", err)
			}
		})
	}
}
