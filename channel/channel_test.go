package channel

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
)

func TestSendReceiveValues(t *testing.T) {
	eachTransport(t, func(t *testing.T, cm, am *Mux) {
		c, a := channelPair(t, cm, am)
		values := []any{nil, true, false, int64(0), int64(-1), int64(1 << 40), uint64(1 << 63), 1.5,
			"héllo", []byte{0, 1, 2}, []any{int64(1), "two", []any{}},
			map[string]any{"a": int64(1), "b": map[string]any{"c": []byte("d")}},
			map[any]any{int64(1): "one"}, strings.Repeat("x", 70000)}
		for _, v := range values {
			if err := c.Send(v); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range values {
			got, err := a.Receive(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %#v, want %#v", got, want)
			}
		}
	})
}

func TestReceiveEOFAfterClose(t *testing.T) {
	eachTransport(t, func(t *testing.T, cm, am *Mux) {
		c, a := channelPair(t, cm, am)
		c.Send("last")
		c.Close()
		if v, err := a.Receive(testCtx(t)); err != nil || v != "last" {
			t.Fatalf("got %v, %v; want the item sent before close", v, err)
		}
		for range 2 {
			if _, err := a.Receive(testCtx(t)); err != io.EOF {
				t.Fatalf("got %v, want io.EOF", err)
			}
		}
		if err := a.WaitClose(testCtx(t)); err != nil {
			t.Fatalf("WaitClose: %v", err)
		}
	})
}

func TestRemoteErrorAfterItems(t *testing.T) {
	eachTransport(t, func(t *testing.T, cm, am *Mux) {
		c, a := channelPair(t, cm, am)
		a.Send(int64(1))
		a.Send(int64(2))
		a.CloseWithError("boom")
		for _, want := range []int64{1, 2} {
			if v, err := c.Receive(testCtx(t)); err != nil || v != want {
				t.Fatalf("got %v, %v; want %d", v, err, want)
			}
		}
		var re *RemoteError
		if _, err := c.Receive(testCtx(t)); !errors.As(err, &re) || re.Message != "boom" {
			t.Fatalf("got %v, want RemoteError boom", err)
		}
		if _, err := c.Receive(testCtx(t)); err != io.EOF {
			t.Fatalf("after the error: got %v, want io.EOF", err)
		}
		if err := c.WaitClose(testCtx(t)); !errors.As(err, &re) {
			t.Fatalf("WaitClose: %v, want the RemoteError", err)
		}
	})
}

func TestReceiveTimeoutLeavesChannelUsable(t *testing.T) {
	eachTransport(t, func(t *testing.T, cm, am *Mux) {
		c, a := channelPair(t, cm, am)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := a.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want deadline exceeded", err)
		}
		c.Send("after")
		if v, err := a.Receive(testCtx(t)); err != nil || v != "after" {
			t.Fatalf("got %v, %v", v, err)
		}
	})
}

func TestSendAfterClose(t *testing.T) {
	eachTransport(t, func(t *testing.T, cm, am *Mux) {
		c, a := channelPair(t, cm, am)
		c.Close()
		if err := c.Send(1); !errors.Is(err, ErrClosed) {
			t.Fatalf("local: got %v, want ErrClosed", err)
		}
		a.WaitClose(testCtx(t))
		if err := a.Send(1); !errors.Is(err, ErrClosed) {
			t.Fatalf("remote: got %v, want ErrClosed", err)
		}
		if !a.IsClosed() || !c.IsClosed() {
			t.Fatal("IsClosed false after close")
		}
	})
}

func TestCallbackEndmarker(t *testing.T) {
	eachTransport(t, func(t *testing.T, cm, am *Mux) {
		c, a := channelPair(t, cm, am)
		a.Send("queued")
		var mu sync.Mutex
		var got []any
		done := make(chan struct{})
		// The item must be queued before the callback is set.
		testutil.WaitFor(t, "the item to arrive", c.hasBacklog)
		if err := c.SetCallback(func(v any) {
			mu.Lock()
			got = append(got, v)
			mu.Unlock()
			if v == "END" {
				close(done)
			}
		}, "END"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Receive(testCtx(t)); !errors.Is(err, ErrCallback) {
			t.Fatalf("Receive on callback channel: %v", err)
		}
		a.Send("later")
		a.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("no endmarker")
		}
		mu.Lock()
		defer mu.Unlock()
		if !reflect.DeepEqual(got, []any{"queued", "later", "END"}) {
			t.Fatalf("got %v", got)
		}
	})
}

func TestCallbackEndmarkerWhenConnectionDies(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	c, _ := channelPair(t, cm, am)
	done := make(chan any, 2)
	c.SetCallback(func(v any) { done <- v }, "END")
	am.Close()
	select {
	case v := <-done:
		if v != "END" {
			t.Fatalf("got %v", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no endmarker after the connection died")
	}
	if err := c.WaitClose(testCtx(t)); !errors.Is(err, io.EOF) || err == io.EOF {
		t.Fatalf("WaitClose after connection loss: %v, want an error wrapping io.EOF", err)
	}
}

func TestCallbackPanicClosesWithError(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	c, a := channelPair(t, cm, am)
	c.SetCallback(func(v any) {
		if v == "bad" {
			panic("callback exploded")
		}
	}, nil)
	a.Send("bad")
	var re *RemoteError
	if err := a.WaitClose(testCtx(t)); !errors.As(err, &re) || !strings.Contains(re.Message, "callback exploded") {
		t.Fatalf("peer saw %v", err)
	}
}

func TestChannelInsideValue(t *testing.T) {
	eachTransport(t, func(t *testing.T, cm, am *Mux) {
		c, a := channelPair(t, cm, am)
		inner, err := cm.OpenChannel()
		if err != nil {
			t.Fatal(err)
		}
		c.Send(map[string]any{"reply": inner, "n": 3})
		v, err := a.Receive(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		got := v.(map[string]any)["reply"].(*Channel)
		got.Send("via inner")
		if v, err := inner.Receive(testCtx(t)); err != nil || v != "via inner" {
			t.Fatalf("got %v, %v", v, err)
		}
		inner.Send("back")
		if v, err := got.Receive(testCtx(t)); err != nil || v != "back" {
			t.Fatalf("got %v, %v", v, err)
		}
	})
}

func TestReceiveIntoStruct(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	c, a := channelPair(t, cm, am)
	type job struct {
		Name  string   `msgpack:"name"`
		Sizes []int    `msgpack:"sizes"`
		Reply *Channel `msgpack:"reply"`
	}
	inner, _ := cm.OpenChannel()
	c.Send(job{Name: "x", Sizes: []int{1, 2}, Reply: inner})
	var j job
	if err := a.ReceiveInto(testCtx(t), &j); err != nil {
		t.Fatal(err)
	}
	if j.Name != "x" || !reflect.DeepEqual(j.Sizes, []int{1, 2}) || j.Reply != am.Channel(inner.ID()) {
		t.Fatalf("got %+v", j)
	}
}

func TestReaderWriter(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	c, a := channelPair(t, cm, am)
	w := c.Writer()
	io.WriteString(w, "hello ")
	io.WriteString(w, "world")
	w.Close()
	b, err := io.ReadAll(a.Reader())
	if err != nil || string(b) != "hello world" {
		t.Fatalf("got %q, %v", b, err)
	}
}

func TestAllEndsAtClose(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	c, a := channelPair(t, cm, am)
	for i := range 5 {
		c.Send(i)
	}
	c.Close()
	var n int64
	for v, err := range a.All(testCtx(t)) {
		if err != nil {
			t.Fatal(err)
		}
		if v != n {
			t.Fatalf("got %v, want %d", v, n)
		}
		n++
	}
	if n != 5 {
		t.Fatalf("got %d items", n)
	}
}

func TestFlowControlBlocksSender(t *testing.T) {
	cfg := &Config{Window: 64 << 10}
	cm, am := muxPair(t, osPipePair, cfg, cfg)
	c, a := channelPair(t, cm, am)
	chunk := make([]byte, 16<<10)
	sent := make(chan int, 100)
	go func() {
		for i := range 100 {
			if c.Send(chunk) != nil {
				return
			}
			sent <- i
		}
	}()
	testutil.WaitFor(t, "the sender to use up the window", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.sendWin <= 0
	})
	// Nobody reads, so no credit comes back: the sender is stuck.
	if n := len(sent); n > 5 {
		t.Fatalf("sender got %d chunks of 16 KiB past a 64 KiB window with no reader", n)
	}
	for range 100 {
		if _, err := a.Receive(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSlowChannelDoesNotStallOthers(t *testing.T) {
	cfg := &Config{Window: 64 << 10}
	cm, am := muxPair(t, osPipePair, cfg, cfg)
	slow, _ := channelPair(t, cm, am)
	fast, fastPeer := channelPair(t, cm, am)
	go func() {
		for slow.Send(make([]byte, 8<<10)) == nil {
		}
	}()
	for i := range 1000 {
		fast.Send(i)
		if _, err := fastPeer.Receive(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	slow.Close()
}

func TestMessageOverLimitRefused(t *testing.T) {
	cfg := &Config{MaxFrame: 4096}
	cm, am := muxPair(t, osPipePair, cfg, cfg)
	c, a := channelPair(t, cm, am)
	var fe *FrameSizeError
	if err := c.Send(make([]byte, 5000)); !errors.As(err, &fe) || fe.Limit != 4096 {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(fe.Error(), "5003") || !strings.Contains(fe.Error(), "4096") {
		t.Fatalf("error %q does not name size and limit", fe)
	}
	c.Send("still works")
	if v, err := a.Receive(testCtx(t)); err != nil || v != "still works" {
		t.Fatalf("got %v, %v", v, err)
	}
}

func TestManyChannels(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		c, a := channelPair(t, cm, am)
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := a.Receive(testCtx(t))
			if err == nil {
				err = a.Send(v)
			}
			if err != nil {
				errs <- err
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Send(i)
			v, err := c.Receive(testCtx(t))
			if err == nil && v != int64(i) {
				err = errors.New("wrong echo")
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestCloseEndsReceivers(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	c, _ := channelPair(t, cm, am)
	errc := make(chan error, 1)
	ctx, blocked := testutil.BlockedContext(context.Background())
	go func() {
		_, err := c.Receive(ctx)
		errc <- err
	}()
	testutil.WaitBlocked(t, blocked, 1)
	cm.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, io.EOF) || err == io.EOF {
			t.Fatalf("got %v, want connection lost wrapping io.EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Receive did not return after Close")
	}
}

func TestCall(t *testing.T) {
	agentCfg := &Config{Handler: HandlerFunc(func(ctx context.Context, m *Mux, kind uint8, body []byte) ([]byte, error) {
		if kind == 9 {
			return nil, errors.New("nope")
		}
		return append([]byte("re:"), body...), nil
	})}
	cm, _ := muxPair(t, osPipePair, nil, agentCfg)
	out, err := cm.Call(testCtx(t), 1, []byte("x"))
	if err != nil || string(out) != "re:x" {
		t.Fatalf("got %q, %v", out, err)
	}
	var re *RemoteError
	if _, err := cm.Call(testCtx(t), 9, nil); !errors.As(err, &re) || re.Message != "nope" {
		t.Fatalf("got %v", err)
	}
}

// TestSmallMessagesAfterHugeOne streams small messages from two goroutines
// after a message larger than the writer recycles: no frame may be
// corrupted. (The writer once kept its spare buffer in use after such a
// message, so senders appended into the batch being written.)
func TestSmallMessagesAfterHugeOne(t *testing.T) {
	cfg := &Config{MaxFrame: 40 << 20}
	// Writes that dawdle before copying widen the window in which a sender
	// could touch a buffer the writer is still writing.
	slowPair := func(t testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser) {
		a, b := osPipePair(t)
		return slowWriter{a}, b
	}
	cm, am := muxPair(t, slowPair, cfg, cfg)
	big, bigPeer := channelPair(t, cm, am)
	big.Send(make([]byte, 20<<20))
	if v, err := bigPeer.Receive(testCtx(t)); err != nil || len(v.([]byte)) != 20<<20 {
		t.Fatalf("huge message: %v", err)
	}
	const n = 20000
	var wg sync.WaitGroup
	for range 2 {
		c, peer := channelPair(t, cm, am)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range n {
				c.Send(i)
			}
		}()
		go func() {
			defer wg.Done()
			for i := range n {
				if v, err := peer.Receive(testCtx(t)); err != nil || v != int64(i) {
					t.Errorf("message %d: %v, %v", i, v, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

type slowWriter struct{ io.ReadWriteCloser }

func (w slowWriter) Write(p []byte) (int, error) {
	time.Sleep(100 * time.Microsecond)
	return w.ReadWriteCloser.Write(p)
}
