package channel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// The tests in this file play a careless or hostile peer with hand-made
// frames: each input must cost its own request or channel, never the
// connection.

func TestCallWithDoneContextSendsNothing(t *testing.T) {
	m, p := newRawPeer(t, RoleClient, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Call(ctx, KindStatus, nil); !errors.Is(err, context.Canceled) {
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
		_, err := m.Call(ctx, KindStatus, nil)
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
	if out, err := m.Call(testCtx(t), KindStatus, nil); err != nil || string(out) != "\xc0" {
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
	var req ExecRequest
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
