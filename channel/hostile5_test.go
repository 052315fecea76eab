package channel

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
)

// Hostile pass over the writer's waits that end with their context, the
// large frames that hold small ones back, and the window credit a send
// whose wait ended gives back.

// flood sends items of itemSize bytes on flooders channels of cm, each
// at most perFlooder of them, drained on am; got counts the items
// received. It returns once the first item arrived, and a stop that ends
// the flood and waits for its goroutines.
func flood(t *testing.T, cm, am *Mux, flooders, perFlooder, itemSize int, got *atomic.Int64) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*hangBound)
	var halt atomic.Bool
	var wg sync.WaitGroup
	flowing := make(chan struct{})
	var once sync.Once
	for range flooders {
		send, recv := channelPair(t, cm, am)
		wg.Add(2)
		go func() {
			defer wg.Done()
			item := make([]byte, itemSize)
			for i := 0; i < perFlooder && !halt.Load(); i++ {
				if send.SendContext(ctx, item) != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < perFlooder; i++ {
				if recv.ReceiveRawFunc(ctx, func([]byte) error { return nil }) != nil {
					return
				}
				got.Add(1)
				once.Do(func() { close(flowing) })
			}
		}()
	}
	select {
	case <-flowing:
	case <-time.After(hangBound):
		t.Fatal("the flood never started")
	}
	return func() {
		halt.Store(true)
		cancel()
		wg.Wait()
	}
}

// TestHostile5SmallNotStarvedByLargeFlood: several channels send large
// items without pause while one small item is sent on another channel.
// The small item must go out after the frames ahead of it (what is queued
// and what fits in the flooding channels' windows), not only once the
// flood ends: with two or more large senders one of them always waits
// for the queue to empty, and small frames wait while any does.
func TestHostile5SmallNotStarvedByLargeFlood(t *testing.T) {
	const flooders, perFlooder = 4, 1500
	cm, am := muxPair(t, osPipePair, nil, nil)
	var got atomic.Int64
	small, smallRecv := channelPair(t, cm, am)
	stop := flood(t, cm, am, flooders, perFlooder, minLargeWrite, &got)
	defer stop()
	for got.Load() < 50 { // well into the flood
		runtime.Gosched()
	}
	before := got.Load()
	if err := small.SendContext(testCtx(t), []byte("small")); err != nil {
		t.Fatal(err)
	}
	if _, err := smallRecv.Receive(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	passed := got.Load() - before
	fair := int64(maxPendingWrite+flooders*cm.cfg.Window)/minLargeWrite + flooders
	t.Logf("%d large items of %d went out while one small item waited; fair is at most %d",
		passed, flooders*perFlooder-int(before), fair)
	if passed > fair {
		t.Errorf("%d large items of other channels went out before a small item sent after they started, past the %d queued or in their windows",
			passed, fair)
	}
}

// TestHostile5ResponseNotStarvedByLargeFlood: the answer to a request is a
// small data frame written with no context. While this side floods large
// items, the peer's Call must still get its answer before the flood ends.
func TestHostile5ResponseNotStarvedByLargeFlood(t *testing.T) {
	const flooders, perFlooder = 4, 1500
	echo := HandlerFunc(func(_ context.Context, _ *Mux, _ uint8, body []byte) ([]byte, error) {
		return body, nil
	})
	// The agent floods and answers; the client calls.
	am, cm := muxPair(t, osPipePair, &Config{Handler: echo}, nil)
	var got atomic.Int64
	stop := flood(t, am, cm, flooders, perFlooder, minLargeWrite, &got)
	defer stop()
	for got.Load() < 50 {
		runtime.Gosched()
	}
	before := got.Load()
	if _, err := cm.Call(testCtx(t), 1, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	passed := got.Load() - before
	fair := int64(maxPendingWrite+flooders*am.cfg.Window)/minLargeWrite + flooders
	t.Logf("%d large items went out while the answer to a request waited; fair is at most %d", passed, fair)
	if passed > fair {
		t.Errorf("%d large items went out before the answer to a request made after they started, past the %d queued or in their windows",
			passed, fair)
	}
}

// stallWriter fills the writer's queue of m, whose raw peer reads
// nothing, with small frames on ch until the writer is stuck in a write
// (far more was sent than a pipe holds) and len(wbuf) is over target.
func stallWriter(t *testing.T, m *Mux, ch *Channel, target int) {
	t.Helper()
	item := make([]byte, 1000)
	for i := 0; i < 16*maxPendingWrite/len(item); i++ {
		m.wmu.Lock()
		n, writing := len(m.wbuf), m.writing
		m.wmu.Unlock()
		if n > target && writing && i*len(item) > maxPendingWrite/2 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ch.SendContext(ctx, item)
		cancel()
		if err != nil {
			t.Fatalf("filling the queue to %d bytes: %v", target, err)
		}
	}
	t.Fatalf("the queue never held %d bytes", target)
}

// TestHostile5LargeTimeoutWakesSmall: a large send waits for a queue that
// does not drain, and small sends with no deadline wait behind it. When
// the large send's context ends, the small ones must go on: nothing else
// will wake them while the peer reads nothing.
func TestHostile5LargeTimeoutWakesSmall(t *testing.T) {
	m, peer := newRawPeerHello(t, RoleClient, nil, Hello{Window: 64 << 20, MaxFrame: 1 << 20})
	ch, err := m.OpenChannel()
	if err != nil {
		t.Fatal(err)
	}
	stallWriter(t, m, ch, 4096)
	largeCtx, cancelLarge := context.WithCancel(context.Background())
	largeDone := make(chan error, 1)
	go func() { largeDone <- ch.SendContext(largeCtx, make([]byte, minLargeWrite)) }()
	waitFor(t, func() bool { m.wmu.Lock(); defer m.wmu.Unlock(); return m.largeArrived-m.largeLeft == 1 })
	const smalls = 32
	smallDone := make(chan error, smalls)
	for range smalls {
		go func() { smallDone <- ch.Send([]byte("s")) }()
	}
	// Let them reach the wait; whether or not they did, they must end.
	time.Sleep(50 * time.Millisecond)
	cancelLarge()
	if err := <-largeDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("large send with its context cancelled: %v, want context.Canceled", err)
	}
	timeout := time.After(hangBound)
	for i := range smalls {
		select {
		case err := <-smallDone:
			if err != nil {
				t.Fatalf("small send %d: %v", i, err)
			}
		case <-timeout:
			t.Fatalf("%d of %d small sends still wait %v after the large send they waited behind gave up",
				smalls-i, smalls, hangBound)
		}
	}
	peer.conn.Close()
}

// waitFor polls cond until it holds, and fails with every goroutine's
// stack if it does not within hangBound.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	if !testutil.Poll(hangBound, cond) {
		buf := make([]byte, 1<<20)
		t.Fatalf("condition never held\n%s", buf[:runtime.Stack(buf, true)])
	}
}

// TestHostile5TimedOutSendsLeaveNothing: thousands of sends, small and
// large, whose contexts end together while the writer is stalled, return
// their context's error and leave no goroutine (AfterFunc) behind.
func TestHostile5TimedOutSendsLeaveNothing(t *testing.T) {
	m, _ := newRawPeerHello(t, RoleClient, nil, Hello{Window: 1 << 30, MaxFrame: 1 << 20})
	ch, err := m.OpenChannel()
	if err != nil {
		t.Fatal(err)
	}
	stallWriter(t, m, ch, maxPendingWrite+1)
	base := runtime.NumGoroutine()
	for round := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		const senders = 400
		errs := make(chan error, senders)
		for i := range senders {
			size := 100
			if i%4 == 0 {
				size = minLargeWrite
			}
			go func() { errs <- ch.SendContext(ctx, make([]byte, size)) }()
		}
		waitFor(t, func() bool {
			m.wmu.Lock()
			defer m.wmu.Unlock()
			return m.largeArrived > m.largeLeft // the others may wait for window
		})
		cancel()
		for range senders {
			select {
			case err := <-errs:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("round %d: a send on a stalled writer whose context was cancelled: %v", round, err)
				}
			case <-time.After(hangBound):
				t.Fatalf("round %d: a send still waits %v after its context was cancelled", round, hangBound)
			}
		}
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= base })
	m.wmu.Lock()
	lw := m.largeArrived - m.largeLeft
	m.wmu.Unlock()
	if lw != 0 {
		t.Fatalf("%d large frames still counted as waiting after every large send gave up", lw)
	}
}

// TestHostile5CreditNotGivenTwice: many senders on one channel, each with
// a context that ends at a random moment, against a receiver that reads
// slowly. The receiving Mux fails the connection if more than its window
// arrives unread, so a window given back twice, or for a frame that was
// queued after all, ends the test's connection; and every send that
// returned nil is received, none that failed.
func TestHostile5CreditNotGivenTwice(t *testing.T) {
	const window = 64 << 10
	cfg := &Config{Window: window}
	cm, am := muxPair(t, osPipePair, cfg, cfg)
	send, recv := channelPair(t, cm, am)
	ctx := testCtx(t)
	const senders, perSender = 16, 200
	var sent atomic.Int64
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(s), 1))
			for range perSender {
				size := 200 + r.IntN(20<<10)
				if r.IntN(8) == 0 {
					size = minLargeWrite - 4096 + r.IntN(8192) // either side of the large path
				}
				sctx, cancel := context.WithTimeout(ctx, time.Duration(r.IntN(2000))*time.Microsecond)
				err := send.SendContext(sctx, make([]byte, size))
				cancel()
				switch {
				case err == nil:
					sent.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
				default:
					t.Errorf("send: %v", err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done); send.Close() }()
	var received int64
	for {
		_, err := recv.Receive(ctx)
		if err != nil {
			<-done
			if cm.Err() != nil || am.Err() != nil {
				t.Fatalf("connection failed: client %v, agent %v", cm.Err(), am.Err())
			}
			break
		}
		received++
		if received%64 == 0 {
			time.Sleep(time.Millisecond) // a slow reader keeps the window full
		}
	}
	if received != sent.Load() {
		t.Fatalf("%d messages received, %d sends returned nil", received, sent.Load())
	}
	t.Logf("%d of %d sends went out", received, senders*perSender)
}

// TestHostile5CloseEndsWriterWaits: small and large sends with no
// deadline wait for a writer the peer never drains; closing the Mux must
// end all of them.
func TestHostile5CloseEndsWriterWaits(t *testing.T) {
	m, _ := newRawPeerHello(t, RoleClient, nil, Hello{Window: 1 << 30, MaxFrame: 1 << 20})
	ch, err := m.OpenChannel()
	if err != nil {
		t.Fatal(err)
	}
	stallWriter(t, m, ch, maxPendingWrite+1)
	const senders = 64
	errs := make(chan error, senders)
	for i := range senders {
		size := 10
		if i%2 == 0 {
			size = minLargeWrite
		}
		go func() { errs <- ch.Send(make([]byte, size)) }()
	}
	waitFor(t, func() bool { m.wmu.Lock(); defer m.wmu.Unlock(); return m.largeArrived > m.largeLeft })
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	for range senders {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatal("a send on a Mux closed while it waited returned nil")
			}
		case <-time.After(hangBound):
			t.Fatalf("a send still waits %v after Close", hangBound)
		}
	}
	select {
	case <-closed:
	case <-time.After(hangBound):
		t.Fatal(fmt.Sprintf("Close still runs after %v", hangBound))
	}
}
