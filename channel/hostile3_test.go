package channel

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// hangBound catches a hang on a loaded machine; it is no goal.
const hangBound = 20 * time.Second

// TestHostile3ItemQueueNoAliasing pushes and pops payloads of random sizes
// around the packing bound, keeping every popped payload: each comes out
// in order, equal to what was pushed, and stays so while later payloads
// are packed into the slabs it came from; an empty queue holds at most
// one slab.
func TestHostile3ItemQueueNoAliasing(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	var q itemQueue
	var pushed, popped [][]byte
	next := 0
	payload := func(i int) []byte {
		n := []int{0, 1, 2, 127, 128, 255, 256, 257, 300, 4000}[r.IntN(10)]
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(i + j)
		}
		return p
	}
	for i := range 20000 {
		if r.IntN(3) > 0 || q.len() == 0 {
			p := payload(i)
			pushed = append(pushed, bytes.Clone(p))
			q.push(p)
			continue
		}
		got := q.pop()
		if !bytes.Equal(got, pushed[next]) {
			t.Fatalf("pop %d: %d bytes, not the %d pushed", next, len(got), len(pushed[next]))
		}
		popped = append(popped, got)
		next++
		if len(got) > 0 && len(got) <= maxPacked && cap(got) != len(got) {
			t.Fatalf("pop %d: a payload with room to append over the next one", next-1)
		}
	}
	for q.len() > 0 {
		popped = append(popped, q.pop())
	}
	for i, p := range popped {
		if !bytes.Equal(p, pushed[i]) {
			t.Fatalf("payload %d changed after it was popped", i)
		}
	}
	// The ring is kept on purpose (itemQueue's comment); slabs are not.
	if held := q.heldBytes() - len(q.ring)*int(unsafe.Sizeof(queueEntry{})); held > maxSlab {
		t.Errorf("an empty queue holds %d bytes of slabs, want at most one slab (%d)", held, maxSlab)
	}
}

// TestHostile3MidSizeItemsPinArenas: a peer sends one 300-byte item on a
// channel the receiver does not read, then 64 KiB on a channel it reads,
// over and over. The unread item counts 300 bytes (and the message
// overhead) against the window and MaxUnreadBytes; it must not keep
// alive the 64 KiB read arena it was cut from, or the receiver holds
// some 200 times what its bounds allow.
func TestHostile3MidSizeItemsPinArenas(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	keptC, keptA := channelPair(t, cm, am)
	fillC, fillA := channelPair(t, cm, am)
	ctx := testCtx(t)
	const items = 200
	filler := make([]byte, 4000) // under minPooled: cut from the arena
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range items {
		if err := keptC.SendRaw(ctx, make([]byte, 300)); err != nil {
			t.Fatal(err)
		}
		for range 64 << 10 / len(filler) {
			if err := fillC.SendRaw(ctx, filler); err != nil {
				t.Fatal(err)
			}
			if _, err := fillA.ReceiveRaw(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	keptA.mu.Lock()
	queued, unread := keptA.queue.len(), *keptA.unread
	keptA.mu.Unlock()
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d unread items counting %d bytes; the heap grew %d KiB", queued, unread, grew>>10)
	if queued != items {
		t.Fatalf("%d items queued, want %d", queued, items)
	}
	if limit := int64(64 * unread); grew > limit {
		t.Errorf("%d unread bytes hold %d KiB of heap, more than 64 times as much", unread, grew>>10)
	}
}

// stallingReader yields a few bytes, then blocks until released: a file
// on a hung network mount, a pipe swapped in for a module file, a caller's
// reader on a slow source.
type stallingReader struct {
	first   bool
	stalled chan struct{} // closed when it starts to block
	release chan struct{}
}

func (r *stallingReader) Read(p []byte) (int, error) {
	if !r.first {
		r.first = true
		return copy(p, "0123456789"), nil
	}
	close(r.stalled)
	<-r.release
	return 0, io.EOF
}

// TestHostile3CallStreamStalledReader: CallStream's reader stops yielding
// mid-body. The call must end when its context does, as Call does, and
// the connection's other traffic (every channel's, keep-alives) must not
// wait for the reader.
func TestHostile3CallStreamStalledReader(t *testing.T) {
	cfg := &Config{Handler: hashHandler}
	cm, _ := muxPair(t, osPipePair, cfg, cfg)
	r := &stallingReader{stalled: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(r.release) }) }
	t.Cleanup(release)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	streamErr := make(chan error, 1)
	go func() {
		_, err := cm.CallStream(ctx, 1, nil, r, 1<<20)
		streamErr <- err
	}()
	<-r.stalled
	// Another request while the reader is stalled: the connection
	// should not be held by it.
	meanwhile, cancelMeanwhile := context.WithTimeout(context.Background(), 2*time.Second)
	_, err := cm.Call(meanwhile, 1, []byte("meanwhile"))
	cancelMeanwhile()
	if err != nil {
		t.Errorf("a call while another's body reader is stalled: %v", err)
	}
	select {
	case err := <-streamErr:
		if err == nil {
			t.Fatal("CallStream with a stalled reader succeeded")
		}
		t.Logf("CallStream after its context ended: %v", err)
	case <-time.After(hangBound):
		release()
		<-streamErr
		t.Errorf("CallStream still waits for its stalled reader %v after its context ended", hangBound)
	}
	callCtx, cancelCall := context.WithTimeout(context.Background(), hangBound)
	defer cancelCall()
	if _, err := cm.Call(callCtx, 1, []byte("next")); err != nil {
		t.Errorf("a call on the connection after a stalled stream: %v", err)
	}
}
