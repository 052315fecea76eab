package channel

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testutil"
)

// TestCloseSend: after one side's CloseSend the peer receives what was
// sent, then io.EOF, and can still answer; the half-closed side can no
// longer send but still receives, until the peer closes its side too.
func TestCloseSend(t *testing.T) {
	eachTransport(t, func(t *testing.T, cm, am *Mux) {
		c, a := channelPair(t, cm, am)
		c.Send(1)
		c.Send(2)
		if err := c.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if err := c.Send(3); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after CloseSend: %v, want ErrClosed", err)
		}
		for _, want := range []any{int64(1), int64(2)} {
			if v, err := a.Receive(testCtx(t)); err != nil || v != want {
				t.Fatalf("peer got %v, %v; want %v", v, err, want)
			}
		}
		for range 2 { // io.EOF on this and every later call
			if _, err := a.Receive(testCtx(t)); err != io.EOF {
				t.Fatalf("peer after the half-close: %v, want io.EOF", err)
			}
		}
		if a.IsClosed() || c.IsClosed() {
			t.Fatal("a half-close closed the channel")
		}
		if err := a.Send("answer"); err != nil {
			t.Fatalf("the peer cannot answer after a half-close: %v", err)
		}
		if v, err := c.Receive(testCtx(t)); err != nil || v != "answer" {
			t.Fatalf("half-closed side got %v, %v", v, err)
		}
		a.Send("last")
		if err := a.CloseSend(); err != nil { // both directions done: the channel closes
			t.Fatal(err)
		}
		if v, err := c.Receive(testCtx(t)); err != nil || v != "last" {
			t.Fatalf("got %v, %v; want the item sent before the close", v, err)
		}
		if _, err := c.Receive(testCtx(t)); err != io.EOF {
			t.Fatalf("after both half-closes: %v, want io.EOF", err)
		}
		for _, ch := range []*Channel{a, c} {
			if err := ch.WaitClose(testCtx(t)); err != nil {
				t.Fatalf("WaitClose: %v", err)
			}
		}
	})
}

// TestCloseSendCrossing: two half-closes that cross on the wire close the
// channel on both sides, and a callback gets its endmarker at the
// half-close.
func TestCloseSendCrossing(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	for range 20 {
		c, a := channelPair(t, cm, am)
		ends := make(chan any, 1)
		a.SetCallback(func(v any) {
			if v == "END" {
				ends <- v
			}
		}, "END")
		c.CloseSend()
		<-ends
		a.CloseSend()
		for _, ch := range []*Channel{a, c} {
			if err := ch.WaitClose(testCtx(t)); err != nil {
				t.Fatalf("WaitClose: %v", err)
			}
		}
	}
	for range 20 {
		c, a := channelPair(t, cm, am)
		go c.CloseSend()
		a.CloseSend()
		for _, ch := range []*Channel{a, c} {
			if err := ch.WaitClose(testCtx(t)); err != nil {
				t.Fatalf("crossing: WaitClose: %v", err)
			}
		}
	}
	// The read loop drops a channel from its table just after it marks
	// it closed, so WaitClose may return first.
	tablesEmpty := func() bool { return cm.NumChannels()+am.NumChannels() == 0 }
	if !testutil.Poll(hangBound, tablesEmpty) {
		t.Errorf("%d channels left in the tables", cm.NumChannels()+am.NumChannels())
	}
}

// TestDataAfterHalfCloseEndsOnlyThatChannel: a peer that sends on a channel
// after its own CloseSend breaks the protocol for that channel alone: the
// channel ends with an error on both sides, the connection and its other
// channels go on.
func TestDataAfterHalfCloseEndsOnlyThatChannel(t *testing.T) {
	eachTransport(t, func(t *testing.T, cm, am *Mux) {
		c, a := channelPair(t, cm, am)
		oc, oa := channelPair(t, cm, am)
		c.CloseSend()
		if _, err := a.Receive(testCtx(t)); err != io.EOF {
			t.Fatalf("after the half-close: %v, want io.EOF", err)
		}
		// What a broken or hostile peer writes: data on the channel it
		// half-closed.
		if err := cm.writeFrame(frameData, 0, c.ID(), []byte{0xc0}, false); err != nil {
			t.Fatal(err)
		}
		var remote *RemoteError
		if _, err := c.Receive(testCtx(t)); !errors.As(err, &remote) || !strings.Contains(remote.Message, "after its CloseSend") {
			t.Fatalf("the offending side got %v, want the refusal", err)
		}
		if _, err := a.Receive(testCtx(t)); err == nil || err == io.EOF {
			t.Fatalf("the refusing side got %v, want the channel's error", err)
		}
		if err := oc.Send("still here"); err != nil {
			t.Fatal(err)
		}
		if v, err := oa.Receive(testCtx(t)); err != nil || v != "still here" {
			t.Fatalf("the other channel: %v, %v", v, err)
		}
	})
}
