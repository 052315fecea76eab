package channel

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// Hostile pass over Receive keeping a large byte string in the buffer it
// arrived in, and over the writer's 1 MiB queue.

// TestHostile4ReceiveErrorValueStaysPut: a peer sends a large byte string
// followed by a stray byte. Receive fails on the stray byte but also
// returns the value it decoded; whatever it returns must be the caller's,
// never a buffer the channel reuses for the messages after it (which a
// careless ReceiveRawFunc borrower then zeroes).
func TestHostile4ReceiveErrorValueStaysPut(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	send, recv := channelPair(t, cm, am)
	const size = 8000
	bad := appendBinHeader(nil, size)
	bad = append(bad, bytes.Repeat([]byte{'x'}, size)...)
	bad = append(bad, 0xc0) // a nil after the value: one byte too many
	good := appendBinHeader(nil, size+1)
	good = append(good, bytes.Repeat([]byte{'y'}, size+1)...)
	if len(good) != len(bad) {
		t.Fatalf("test messages of %d and %d bytes, want one size", len(good), len(bad))
	}
	var kept [][]byte
	for round := range 100 {
		if err := send.SendRaw(testCtx(t), bad); err != nil {
			t.Fatal(err)
		}
		v, err := recv.Receive(testCtx(t))
		if err == nil {
			t.Fatalf("round %d: Receive took a message with a stray byte", round)
		}
		if b, ok := v.([]byte); ok {
			kept = append(kept, b)
		}
		for range 4 {
			if err := send.SendRaw(testCtx(t), good); err != nil {
				t.Fatal(err)
			}
			err := recv.ReceiveRawFunc(testCtx(t), func(msg []byte) error {
				clear(msg)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		for i, b := range kept {
			if bytes.Count(b, []byte{'x'}) != len(b) {
				t.Fatalf("round %d: the value Receive returned in round %d with its error changed after later messages arrived",
					round, i)
			}
		}
	}
}

// TestHostile4KeptByteStringPinsAtMostTwice: a peer sends messages just
// past the pooled size, each a byte string of just over half the message
// and a string. The receiver keeps only the byte strings; the heap they
// hold must stay within twice their bytes, as decodeOwned promises, not
// the pooled buffers' size class (5120 bytes for a 4097-byte message).
func TestHostile4KeptByteStringPinsAtMostTwice(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	send, recv := channelPair(t, cm, am)
	const binLen, n = 2049, 2000
	// fixarray(2), bin16 header + 2049, str16 header + 2041: 4097 bytes.
	msg := []byte{0x92}
	msg = append(appendBinHeader(msg, binLen), bytes.Repeat([]byte{'b'}, binLen)...)
	msg = append(msg, 0xda, 2041>>8, 2041&0xff)
	msg = append(msg, bytes.Repeat([]byte{'s'}, 2041)...)
	if len(msg) != minPooled {
		t.Fatalf("test message of %d bytes, want %d", len(msg), minPooled)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sent := make(chan error, 1)
	go func() {
		for range n {
			if err := send.SendRaw(ctx, msg); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	held := make([][]byte, 0, n)
	for range n {
		v, err := recv.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, v.([]any)[0].([]byte))
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	holds := int64(n * binLen)
	t.Logf("%d byte strings of %d bytes: heap grew %d bytes, %.2f times what they hold", n, binLen, grown, float64(grown)/float64(holds))
	if limit := 2*holds + 1<<20; grown > limit {
		t.Errorf("heap grew %d bytes for %d bytes of byte strings kept: past twice what they hold (+1 MiB)", grown, holds)
	}
	runtime.KeepAlive(held)
}

// TestHostile4SendContextEndsWhileQueueFull: a peer that stops reading
// (an agent stopped, a link that stalls) lets the writer's queue fill. A
// sender's context must still end its SendContext, and a Call's: the
// window (4 MiB by default) is larger than the queue (1 MiB), so a single
// channel reaches the queue's bound before it runs out of window.
func TestHostile4SendContextEndsWhileQueueFull(t *testing.T) {
	m, _ := newRawPeerHello(t, RoleClient, nil, Hello{Window: 4 << 20, MaxFrame: 1 << 20})
	ch, err := m.OpenChannel()
	if err != nil {
		t.Fatal(err)
	}
	item := make([]byte, 1000)
	// The window ends this at 4 MiB if the queue's wait does not.
	endsWithItsContext(t, "SendContext", 8<<10, func(ctx context.Context) error { return ch.SendContext(ctx, item) })
	endsWithItsContext(t, "Call", 1, func(ctx context.Context) error {
		_, err := m.Call(ctx, 1, make([]byte, 100))
		return err
	})
}

// endsWithItsContext runs op up to n times, each with a context of 200 ms,
// against a peer that reads nothing, and checks that one fails with its
// context's deadline rather than block.
func endsWithItsContext(t *testing.T, what string, n int, op func(context.Context) error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for range n {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			err := op(ctx)
			cancel()
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s to a peer that reads nothing: %v, want its context's deadline", what, err)
		}
	case <-time.After(hangBound):
		t.Fatalf("%s to a peer that reads nothing still blocked %v after its 200ms context ended", what, hangBound)
	}
}

// TestHostile4LargeFrameNotStarvedBySmallFlood: while other channels keep
// the writer's queue from ever emptying with small items, a large item
// (written from its sender's slice once the queue is empty) must go out
// after what was queued when it came, not after whatever the flood sends
// meanwhile: counted in the flood's items, at most the queue's bound
// plus what the flood's receivers may lag behind (their windows).
func TestHostile4LargeFrameNotStarvedBySmallFlood(t *testing.T) {
	const flooders, itemSize = 4, 1000
	cm, am := muxPair(t, osPipePair, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*hangBound)
	defer cancel()
	var got atomic.Int64 // flood items received
	stop := flood(t, cm, am, flooders, 2_000_000, itemSize, &got)
	defer stop()
	big, bigRecv := channelPair(t, cm, am)
	before := got.Load()
	done := make(chan error, 1)
	go func() {
		done <- big.SendContext(ctx, make([]byte, 1<<20))
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(hangBound):
		t.Fatalf("a 1 MiB item waited %v behind a flood of small items on other channels", hangBound)
	}
	if _, err := bigRecv.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	passed := got.Load() - before
	fair := int64(maxPendingWrite+flooders*cm.cfg.Window+1<<20) / itemSize
	t.Logf("%d small items (%d MB) were received while the 1 MiB item waited; fair is at most %d", passed, passed*itemSize>>20, fair)
	if passed > fair {
		t.Errorf("%d small items of other channels went out before a 1 MiB item sent after they started, past the %d queued or in their windows",
			passed, fair)
	}
}

// TestSendContextEndedKeepsWindow: a send whose context ends while it
// waits for room in the writer's queue is not sent, so the window it took
// is given back. Else each such send would shrink the channel's window for
// good, down to a channel that sends nothing.
func TestSendContextEndedKeepsWindow(t *testing.T) {
	const window, item = 4 << 20, 1000 // a window past the queue's bound
	m, peer := newRawPeerHello(t, RoleClient, nil, Hello{Window: window, MaxFrame: 1 << 20})
	ch, err := m.OpenChannel()
	if err != nil {
		t.Fatal(err)
	}
	// The peer reads nothing until the first send times out with the
	// queue full, and then everything, returning no credit: the window
	// alone then stops the sender.
	draining := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-draining
		var buf [64 << 10]byte
		for {
			if _, err := peer.br.Read(buf[:]); err != nil {
				return
			}
		}
	}()
	sent, timeouts := 0, 0
	payload := make([]byte, item)
	for i := 0; i < 4*window/item && timeouts < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := ch.SendContext(ctx, payload)
		cancel()
		switch {
		case err == nil:
			sent++
		case errors.Is(err, context.DeadlineExceeded):
			timeouts++
			if timeouts == 1 {
				close(draining)
			}
		default:
			t.Fatal(err)
		}
	}
	// Each message takes its bytes and the overhead from the window, and
	// the last may overdraw it.
	cost := item + 3 + messageOverhead // a 1000-byte bin has a 3-byte header
	if want := (window + cost - 1) / cost; sent != want {
		t.Fatalf("%d messages sent before the window ran out, want %d: a timed-out send kept its window", sent, want)
	}
	m.Close()
	<-drained
}

// TestNotifyContextEndsWhileQueueFull: a notice (guest output is sent so)
// to a peer that reads nothing waits for room in the write queue only as
// long as its context lasts.
func TestNotifyContextEndsWhileQueueFull(t *testing.T) {
	m, _ := newRawPeerHello(t, RoleClient, nil, Hello{Window: 4 << 20, MaxFrame: 1 << 20})
	body := make([]byte, 32<<10) // queued, as guest output's pieces are
	endsWithItsContext(t, "NotifyContext", 512, func(ctx context.Context) error { return m.NotifyContext(ctx, 1, body) })
}
