package channel

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

// TestItemQueueOrder: items leave in the order they came, across the
// ring's wrap-around and growth.
func TestItemQueueOrder(t *testing.T) {
	var q itemQueue
	rng := rand.New(rand.NewPCG(1, 2))
	in, out := 0, 0
	for range 100_000 {
		if q.len() == 0 || rng.IntN(3) > 0 {
			q.push([]byte(strconv.Itoa(in)))
			in++
			continue
		}
		if got, want := string(q.pop()), strconv.Itoa(out); got != want {
			t.Fatalf("popped %s, want %s", got, want)
		}
		out++
	}
	if q.len() != in-out {
		t.Fatalf("len %d, want %d", q.len(), in-out)
	}
}

// heldBytes is what q holds: its ring and its slabs, whole.
func (q *itemQueue) heldBytes() int {
	n := len(q.ring) * int(unsafe.Sizeof(queueEntry{}))
	for i := range q.entries {
		if e := q.ring[(q.head+i)&(len(q.ring)-1)]; e.packed {
			n += cap(e.b)
		}
	}
	return n
}

// TestItemQueueMixedSizes: small and large payloads, and empty ones, keep
// their order and bytes, and a popped payload stays intact while the
// queue fills on.
func TestItemQueueMixedSizes(t *testing.T) {
	var q itemQueue
	rng := rand.New(rand.NewPCG(3, 4))
	item := func(i int) []byte {
		size := []int{0, 1, 7, maxPacked, maxPacked + 1, 5000}[i%6]
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(i + j)
		}
		return b
	}
	var popped [][]byte
	in, out := 0, 0
	for range 50_000 {
		if q.len() == 0 || rng.IntN(2) > 0 {
			q.push(item(in))
			in++
			continue
		}
		popped = append(popped, q.pop())
		out++
	}
	for q.len() > 0 {
		popped = append(popped, q.pop())
	}
	for i, p := range popped {
		if !bytes.Equal(p, item(i)) {
			t.Fatalf("item %d: %d bytes, differs from the %d pushed", i, len(p), len(item(i)))
		}
		if cap(p) != len(p) {
			t.Fatalf("item %d: capacity %d past its %d bytes", i, cap(p), len(p))
		}
	}
}

// TestTinyItemsHeldCompactly: a peer that fills a channel's window with
// one-byte items makes the receiver hold about the window, not the 24
// bytes of a slice per item (1.5 times the window) and the ring's growth.
func TestTinyItemsHeldCompactly(t *testing.T) {
	const window = 1 << 20
	cm, am := muxPair(t, osPipePair, nil, &Config{Window: window})
	c, a := channelPair(t, cm, am)
	ctx, cancel := context.WithCancel(testCtx(t))
	sent := make(chan int, 1)
	go func() {
		n := 0
		for ; n < window; n++ { // far past what the window lets through
			if err := c.SendRaw(ctx, []byte{0x01}); err != nil {
				break
			}
		}
		sent <- n
	}()
	queued := func() int {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.queue.len()
	}
	full := window / (1 + messageOverhead) * 9 / 10
	for deadline := time.Now().Add(time.Minute); queued() < full; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d items arrived; want the window's %d", queued(), full)
		}
	}
	a.mu.Lock()
	held, n := a.queue.heldBytes(), a.queue.len()
	a.mu.Unlock()
	t.Logf("%d one-byte items held in %d bytes", n, held)
	if held > window/2 {
		t.Fatalf("%d one-byte items (a window of %d bytes) held %d bytes", n, window, held)
	}
	cancel()
	<-sent
}
