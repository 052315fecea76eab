package channel

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// The tests in this file play a peer that declares limits meant to let it
// grow this side's memory without bound (issue 23, item 1).

// hugeHello declares a window and a max frame of 2^62 bytes.
var hugeHello = Hello{Window: 1 << 62, MaxFrame: 1 << 62}

// TestSecurityPeerLimitsAreCapped: the window and max frame a peer
// declares are capped by this side's own, so a peer cannot make this side
// send past its own window without credit.
func TestSecurityPeerLimitsAreCapped(t *testing.T) {
	own := &Config{Window: 64 << 10, MaxFrame: 1 << 20}
	m, p := newRawPeerHello(t, RoleClient, own, hugeHello)
	if got := m.Peer(); got.Window != own.Window || got.MaxFrame != own.MaxFrame {
		t.Fatalf("the peer's limits seen as window %d, max frame %d; want %d, %d", got.Window, got.MaxFrame, own.Window, own.MaxFrame)
	}
	c, err := m.OpenChannel()
	if err != nil {
		t.Fatal(err)
	}
	// Credit past the window is no more than the window either.
	p.write(frameWindow, 0, c.ID(), []byte{0xff, 0xff, 0xff, 0xff})
	p.sync(1)
	go io.Copy(io.Discard, p.br)
	sent := 0
	for sent <= own.Window {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.SendContext(ctx, make([]byte, 16<<10))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		sent += 16 << 10
	}
	t.Fatalf("%d bytes sent without credit past a window of %d", sent, own.Window)
}

// TestSecurityPingFloodFromHugePeerIsCutOff: a peer that declared a max
// frame of 2^62, floods pings and reads no pong is cut off with an error
// saying so, once the pongs pass a bound of this side's own.
func TestSecurityPingFloodFromHugePeerIsCutOff(t *testing.T) {
	m, p := newRawPeerHello(t, RoleClient, &Config{MaxFrame: 1 << 20}, hugeHello)
	pings := make([]byte, 0, 1<<16*headerSize)
	for i := range 1 << 16 {
		pings = appendHeader(pings, framePing, 0, uint32(i), 0)
	}
	// 512 MiB of pings at most: past the bound, far below what would
	// hurt the test's machine.
	go func() {
		for i := 0; i < 512<<20/len(pings) && m.Err() == nil; i++ {
			if _, err := p.conn.Write(pings); err != nil {
				return
			}
		}
	}()
	select {
	case <-m.Done():
	case <-time.After(2 * time.Minute):
		t.Fatal("the Mux queued pongs for a peer that reads nothing")
	}
	if err := m.Err(); !errors.Is(err, ErrPeerNotReading) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("ended with %v, want ErrPeerNotReading naming the limit", err)
	}
}

// TestSecurityRequestFloodIsBounded: requests whose handlers wait are
// bounded in number; past that each is answered with an error at once, and
// the connection goes on.
func TestSecurityRequestFloodIsBounded(t *testing.T) {
	block := HandlerFunc(func(ctx context.Context, _ *Mux, _ uint8, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	m, p := newRawPeerHello(t, RoleAgent, &Config{Handler: block}, hugeHello)
	const extra = 16
	for i := range maxServing + extra {
		p.write(frameRequest, 1, uint32(1+i), nil)
	}
	refused := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for refused < extra {
			h, body := p.read()
			if h.typ != frameResponse {
				continue
			}
			if h.flags&flagError == 0 || !strings.Contains(string(body), "too many requests") {
				t.Errorf("answer to request %d: %q", h.id, body)
				return
			}
			refused++
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%d of %d requests past the bound refused", refused, extra)
	}
	if err := m.Err(); err != nil {
		t.Fatalf("the connection ended: %v", err)
	}
}

// TestSecurityOpenFloodReadingNothingIsCutOff: a peer that opens channels
// past the backlog and reads none of the refusals is cut off once they
// pass the bound; the refusal that passes it is written while the channel
// table is locked, which cutting off must not wait for.
func TestSecurityOpenFloodReadingNothingIsCutOff(t *testing.T) {
	m, p := newRawPeerHello(t, RoleClient, nil, hugeHello)
	go func() {
		batch := make([]byte, 0, 4096*headerSize)
		for i := range uint32(16 << 20) {
			batch = appendHeader(batch, frameOpen, 0, 2+2*i, 0)
			if len(batch) == cap(batch) {
				if _, err := p.conn.Write(batch); err != nil {
					return
				}
				batch = batch[:0]
			}
		}
	}()
	select {
	case <-m.Done():
	case <-time.After(2 * time.Minute):
		t.Fatal("the Mux neither refused nor cut off a flood of opens")
	}
	if err := m.Err(); !errors.Is(err, ErrPeerNotReading) {
		t.Fatalf("ended with %v, want ErrPeerNotReading", err)
	}
}
