package channel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/wire"
)

// The tests in this file play a careless or hostile peer with hand-made
// frames: each input must cost its own request or channel, never the
// connection.

func TestCallWithDoneContextSendsNothing(t *testing.T) {
	m, p := newRawPeer(t, RoleClient, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Call(ctx, wire.KindStatus, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call with a cancelled ctx: %v, want context.Canceled", err)
	}
	p.write(framePing, 0, 7, nil)
	if h, _ := p.read(); h.typ != framePong {
		t.Fatalf("the peer got a %s frame before the pong: the cancelled call was sent", h.typ)
	}
}

func TestLateAnswerToCancelledCallIsDropped(t *testing.T) {
	m, p := newRawPeer(t, RoleClient, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := m.Call(ctx, wire.KindStatus, nil)
		errc <- err
	}()
	h, _ := p.readUntil(frameRequest)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Call: %v, want context.Canceled", err)
	}
	p.write(frameResponse, 0, h.id, []byte{0x80})
	p.write(frameResponse, 0, h.id+1000, []byte{0x80}) // never asked
	p.sync(1)
	if err := m.Err(); err != nil {
		t.Fatalf("the connection ended on a late answer: %v", err)
	}
	// And the next call is answered.
	go func() {
		h, _ := p.readUntil(frameRequest)
		p.write(frameResponse, 0, h.id, []byte{0xc0})
	}()
	if out, err := m.Call(testCtx(t), wire.KindStatus, nil); err != nil || string(out) != "\xc0" {
		t.Fatalf("next call: %q, %v", out, err)
	}
}

// deepArray is an array nested n deep, the innermost empty.
func deepArray(n int) []byte {
	b := bytes.Repeat([]byte{0x91}, n)
	return append(b, 0x90)
}

func TestDeepValueIsRefused(t *testing.T) {
	deep := deepArray(8 << 20) // 8 MiB; Go's stack overflows long before
	var req wire.ExecRequest
	if err := UnmarshalInto(deep, &req); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("UnmarshalInto: %v, want a depth error", err)
	}
	var anything any
	if err := UnmarshalInto(deep, &anything); err == nil {
		t.Fatal("UnmarshalInto into any accepted an 8M-deep value")
	}
	// On a connection: the channel's receiver gets the error, and the
	// connection goes on.
	m, p := newRawPeer(t, RoleClient, &Config{MaxFrame: 16 << 20})
	p.write(frameOpen, 0, 2, nil)
	p.write(frameData, 0, 2, deep)
	p.write(frameData, 0, 2, []byte{0x01})
	p.sync(1)
	ch := m.Channel(2)
	var dst []any
	if err := ch.ReceiveInto(testCtx(t), &dst); err == nil {
		t.Fatal("ReceiveInto accepted an 8M-deep value")
	}
	if v, err := ch.Receive(testCtx(t)); err != nil || v != int64(1) {
		t.Fatalf("next item: %v, %v", v, err)
	}
	if err := m.Err(); err != nil {
		t.Fatalf("the connection ended: %v", err)
	}
}

// claimingArrays nests levels arrays, each claiming as many elements as
// bytes follow it, over pad bytes that are no value at all.
func claimingArrays(levels, pad int) []byte {
	var b []byte
	for i := range levels {
		left := (levels-i-1)*5 + pad
		b = binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(left))
	}
	return append(b, bytes.Repeat([]byte{0xc1}, pad)...)
}

func TestDeclaredCountsDoNotAllocate(t *testing.T) {
	b := claimingArrays(16, 1<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Unmarshal(b)
	var anything [][]any
	err2 := UnmarshalInto(b, &anything)
	runtime.ReadMemStats(&after)
	if err == nil || err2 == nil {
		t.Fatalf("a malformed value decoded: %v, %v", err, err2)
	}
	// Allocated for the claims, 16 levels would take 16 x 16 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Fatalf("decoding %d bytes allocated %d bytes", len(b), alloc)
	}
}

func TestFramesOverThePeerLimitFailTheirOperationOnly(t *testing.T) {
	big := make([]byte, 2<<20)
	agentCfg := &Config{MaxFrame: 1 << 20, Handler: HandlerFunc(func(_ context.Context, _ *Mux, kind uint8, _ []byte) ([]byte, error) {
		if kind == 1 {
			return big, nil // an answer over the client's limit
		}
		return nil, errors.New(strings.Repeat("é", 1<<20)) // 2 MiB of error text
	})}
	cm, am := muxPair(t, osPipePair, &Config{MaxFrame: 1 << 20}, agentCfg)
	var tooBig *FrameSizeError
	if err := cm.Notify(1, big); !errors.As(err, &tooBig) {
		t.Fatalf("Notify over the limit: %v, want a FrameSizeError", err)
	}
	if _, err := cm.Call(testCtx(t), 1, big); !errors.As(err, &tooBig) {
		t.Fatalf("Call over the limit: %v, want a FrameSizeError", err)
	}
	var re *RemoteError
	if _, err := cm.Call(testCtx(t), 1, nil); !errors.As(err, &re) || !strings.Contains(re.Message, "exceeds the limit") {
		t.Fatalf("answer over the limit: %v, want a RemoteError naming the limit", err)
	}
	if _, err := cm.Call(testCtx(t), 2, nil); !errors.As(err, &re) || len(re.Message) > 64<<10 || !strings.Contains(re.Message, "cut") {
		t.Fatalf("2 MiB error text: %d bytes, %v; want it cut to 64 KiB and marked", len(re.Message), err)
	}
	c, a := channelPair(t, cm, am)
	a.CloseWithError(strings.Repeat("x", 3<<20))
	if _, err := c.Receive(testCtx(t)); !errors.As(err, &re) || len(re.Message) > 64<<10 || !strings.HasPrefix(re.Message, "xxx") {
		t.Fatalf("3 MiB close text: %v", err)
	}
	c2, a2 := channelPair(t, cm, am)
	if err := c2.Send("still here"); err != nil {
		t.Fatal(err)
	}
	if v, err := a2.Receive(testCtx(t)); err != nil || v != "still here" {
		t.Fatalf("after the oversized frames: %v, %v", v, err)
	}
	if cm.Err() != nil || am.Err() != nil {
		t.Fatalf("a connection ended: %v, %v", cm.Err(), am.Err())
	}
}

func TestOpensPastTheBacklogAreRefused(t *testing.T) {
	m, p := newRawPeer(t, RoleClient, &Config{AcceptBacklog: 8})
	for i := range 20 {
		p.write(frameOpen, 0, uint32(2+2*i), nil)
	}
	refused := 0
	for range 12 {
		h, body := p.readUntil(frameClose)
		if h.flags&flagError == 0 || !strings.Contains(string(body), "backlog is full") || h.id < 18 {
			t.Fatalf("close of channel %d: %q", h.id, body)
		}
		refused++
	}
	for i := range 8 {
		c, err := m.Accept(testCtx(t))
		if err != nil || c.ID() != uint32(2+2*i) {
			t.Fatalf("Accept: %v, %v; want channel %d", c, err, 2+2*i)
		}
	}
	// Data for a refused channel is dropped; the backlog has room again.
	p.write(frameData, 0, 20, []byte{0x01})
	p.write(frameOpen, 0, 100, nil)
	p.write(frameData, 0, 100, []byte{0x02})
	c, err := m.Accept(testCtx(t))
	if err != nil || c.ID() != 100 {
		t.Fatalf("Accept after the backlog drained: %v, %v", c, err)
	}
	if v, err := c.Receive(testCtx(t)); err != nil || v != int64(2) {
		t.Fatalf("Receive: %v, %v", v, err)
	}
	if m.Err() != nil {
		t.Fatal(m.Err())
	}
}

func TestBytesOnChannelsNobodyHoldsAreBounded(t *testing.T) {
	m, p := newRawPeer(t, RoleClient, &Config{MaxUnheldBytes: 64 << 10})
	item := append([]byte{0xc5, 0x40, 0x00}, make([]byte, 16<<10)...) // 16 KiB bin
	// Opened, filled and closed: such a channel waits for a message naming
	// it, which never comes.
	for id := uint32(2); id <= 16; id += 2 {
		p.write(frameOpen, 0, id, nil)
		p.write(frameData, 0, id, item)
		p.write(frameClose, 0, id, nil)
	}
	h, body := p.readUntil(frameClose)
	if h.flags&flagError == 0 || !strings.Contains(string(body), "nobody holds") {
		t.Fatalf("close of channel %d: %q", h.id, body)
	}
	p.sync(1)
	if n := m.NumChannels(); n > 4 {
		t.Fatalf("%d channels held, want at most 4 of 16 KiB under a 64 KiB bound", n)
	}
	// What was held is still there for whoever takes it.
	c, err := m.Accept(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.Receive(testCtx(t)); err != nil || len(v.([]byte)) != 16<<10 {
		t.Fatalf("held item: %v", err)
	}
}

// TestOpenFloodHeapBounded opens a million channels nobody takes: the
// Mux refuses what passes its backlog and its heap stays small.
func TestOpenFloodHeapBounded(t *testing.T) {
	m, p := newRawPeer(t, RoleClient, nil)
	refused := make(chan int, 1)
	go func() {
		n := 0
		defer func() { refused <- n }()
		for {
			var hdr [headerSize]byte
			if _, err := io.ReadFull(p.br, hdr[:]); err != nil {
				return
			}
			h := parseHeader(hdr[:])
			if _, err := p.br.Discard(int(h.length)); err != nil {
				return
			}
			if h.typ == frameClose {
				n++
			}
			if h.typ == framePong {
				return
			}
		}
	}()
	const opens = 1 << 20
	batch := make([]byte, 0, 4096*headerSize)
	for i := range opens {
		batch = appendHeader(batch, frameOpen, 0, uint32(2+2*i), 0)
		if len(batch) == cap(batch) {
			p.conn.Write(batch)
			batch = batch[:0]
		}
	}
	p.conn.Write(append(batch, appendHeader(nil, framePing, 0, 1, 0)...))
	if n := <-refused; n != opens-DefaultConfig().AcceptBacklog {
		t.Fatalf("%d opens refused, want %d", n, opens-DefaultConfig().AcceptBacklog)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > 64<<20 {
		t.Fatalf("heap in use after %d opens: %d MiB", opens, ms.HeapInuse>>20)
	}
	if m.Err() != nil || m.NumChannels() != DefaultConfig().AcceptBacklog {
		t.Fatalf("after the flood: %v, %d channels", m.Err(), m.NumChannels())
	}
}

// TestPeerThatReadsNothing floods pings and never reads the pongs: the
// connection ends with an error instead of queueing pongs without bound.
func TestPeerThatReadsNothing(t *testing.T) {
	m, p := newRawPeer(t, RoleClient, &Config{MaxFrame: 1 << 20})
	pings := make([]byte, 0, 1<<16*headerSize)
	for i := range 1 << 16 {
		pings = appendHeader(pings, framePing, 0, uint32(i), 0)
	}
	go func() {
		for m.Err() == nil {
			if _, err := p.conn.Write(pings); err != nil {
				return
			}
		}
	}()
	select {
	case <-m.Done():
	case <-time.After(time.Minute):
		t.Fatal("the Mux queued pongs for a minute")
	}
	if err := m.Err(); !errors.Is(err, ErrPeerNotReading) {
		t.Fatalf("ended with %v", err)
	}
}

func TestKeepAliveTimeoutIsASentinel(t *testing.T) {
	m, _ := newRawPeer(t, RoleClient, &Config{KeepAlive: 10 * time.Millisecond, KeepAliveTimeout: 50 * time.Millisecond})
	select {
	case <-m.Done():
	case <-time.After(time.Minute):
		t.Fatal("a silent peer was not noticed")
	}
	if err := m.Err(); !errors.Is(err, ErrKeepAliveTimeout) {
		t.Fatalf("ended with %v, want ErrKeepAliveTimeout", err)
	}
}

// TestWaitWaitsForHandlersAndCallbacks ends a Mux while a handler and a
// callback still run: Wait returns only after both have.
func TestWaitWaitsForHandlersAndCallbacks(t *testing.T) {
	var handlerDone, callbackDone atomic.Bool
	started := make(chan struct{})
	agentCfg := &Config{Handler: HandlerFunc(func(ctx context.Context, _ *Mux, _ uint8, _ []byte) ([]byte, error) {
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // a handler slow to notice
		handlerDone.Store(true)
		return nil, nil
	})}
	cm, am := muxPair(t, osPipePair, nil, agentCfg)
	_, a := channelPair(t, cm, am)
	a.SetCallback(func(v any) {
		if v == "end" {
			time.Sleep(50 * time.Millisecond)
			callbackDone.Store(true)
		}
	}, "end")
	go cm.Call(context.Background(), 1, nil)
	<-started
	am.Close()
	am.Wait()
	if !handlerDone.Load() || !callbackDone.Load() {
		t.Fatalf("Wait returned before the handler (%v) or the callback (%v)", handlerDone.Load(), callbackDone.Load())
	}
}
