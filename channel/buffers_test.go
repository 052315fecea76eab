package channel

import (
	"runtime"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
)

// TestIdleWriterKeepsNoBigBuffers sends bursts of 1 MiB messages on
// several connections: once they are idle, their writers hold no big
// buffer, and after two collections (the read buffers' pool keeps them
// for one) the heap is back near where it started.
func TestIdleWriterKeepsNoBigBuffers(t *testing.T) {
	cfg := &Config{Window: 8 << 20}
	const pairs, burst = 8, 16
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var muxes []*Mux
	for range pairs {
		cm, am := muxPair(t, osPipePair, cfg, cfg)
		c, a := channelPair(t, cm, am)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range burst {
				if _, err := a.Receive(testCtx(t)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		msg := make([]byte, 1<<20)
		for range burst {
			if err := c.Send(msg); err != nil {
				t.Fatal(err)
			}
		}
		<-done
		muxes = append(muxes, cm)
	}
	for _, m := range muxes {
		testutil.WaitFor(t, "the writer to go idle", func() bool {
			m.wmu.Lock()
			defer m.wmu.Unlock()
			return !m.writing && len(m.wbuf) == 0 && cap(m.wbuf) <= keepBuffer && cap(m.wspare) <= keepBuffer
		})
	}
	// Read buffers go back to a sync.Pool, which frees what nobody took
	// at the second collection after (its victim cache keeps it for one).
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > pairs<<20 {
		t.Fatalf("%d idle connections hold %d MiB more heap than before their bursts", pairs, grown>>20)
	}
}

// TestQuietConnectionSmallArena: a connection that carried a message or
// two (a client's idle gateway) has not allocated the read arena a busy
// one grows to.
func TestQuietConnectionSmallArena(t *testing.T) {
	const pairs = 8
	type pair struct{ c, a *Channel }
	var ps []pair
	for range pairs {
		cm, am := muxPair(t, osPipePair, nil, nil)
		c, a := channelPair(t, cm, am)
		ps = append(ps, pair{c, a})
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, p := range ps {
		if err := p.c.Send("ping"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.a.Receive(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if err := p.a.Send("pong"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.c.Receive(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perPair := (after.TotalAlloc - before.TotalAlloc) / pairs
	if perPair > maxArena {
		t.Fatalf("a message each way allocated %d bytes per connection", perPair)
	}
}

// TestSteadyFloodQueueBounded: a receiver that keeps a backlog (it never
// catches up with the sender, as a slow consumer of a flood) holds a queue
// of the size of its backlog, not of everything the channel carried.
func TestSteadyFloodQueueBounded(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	c, a := channelPair(t, cm, am)
	const backlog, total = 2000, 400_000
	for range backlog {
		if err := c.Send("x"); err != nil {
			t.Fatal(err)
		}
	}
	queued := func() int {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.queue.len()
	}
	for deadline := time.Now().Add(time.Minute); queued() < backlog; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d items arrived", queued(), backlog)
		}
	}
	for range total {
		if _, err := a.Receive(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if err := c.Send("x"); err != nil {
			t.Fatal(err)
		}
	}
	a.mu.Lock()
	held := a.queue.heldBytes()
	a.mu.Unlock()
	if held > 6*backlog*16 {
		t.Fatalf("a backlog of %d items held a queue of %d bytes", backlog, held)
	}
}

// TestConnectionBuffersSmall: a connection's buffers (what a client holds
// per idle gateway) are a few dozen KiB, not the 64 KiB each a read buffer
// and an arena took.
func TestConnectionBuffersSmall(t *testing.T) {
	const pairs = 8
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range pairs {
		cm, am := muxPair(t, osPipePair, nil, nil)
		c, a := channelPair(t, cm, am)
		if err := c.Send("ping"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Receive(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perMux := (after.TotalAlloc - before.TotalAlloc) / (2 * pairs)
	t.Logf("%d bytes per connection", perMux)
	if perMux > 48<<10 {
		t.Fatalf("a connection that carried one message allocated %d bytes", perMux)
	}
}
