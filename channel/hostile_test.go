package channel

import (
	"context"
	"errors"
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
