package channel

import (
	"bufio"
	"context"
	"io"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testutil"
)

// rawPeer is the far end of a connection driven by hand: the test writes
// frames of its choice and reads what the Mux under test sends, as
// x/crypto/ssh's tests build packets for protocol violations.
type rawPeer struct {
	t    testing.TB
	conn io.ReadWriteCloser
	br   *bufio.Reader
}

// newRawPeer returns a running Mux of the given role (with cfg) joined to
// a rawPeer that has done the hello exchange as the other role.
func newRawPeer(t testing.TB, role Role, cfg *Config) (*Mux, *rawPeer) {
	t.Helper()
	return newRawPeerHello(t, role, cfg, Hello{Window: 1 << 20, MaxFrame: 1 << 20})
}

// newRawPeerHello is newRawPeer whose peer says hello (protocol and role
// filled in).
func newRawPeerHello(t testing.TB, role Role, cfg *Config, hello Hello) (*Mux, *rawPeer) {
	t.Helper()
	a, b := osPipePair(t)
	p := &rawPeer{t: t, conn: b, br: bufio.NewReader(b)}
	hello.Proto, hello.Role = ProtocolVersion, RoleClient
	if role == RoleClient {
		hello.Role = RoleAgent
	}
	body, err := Marshal(&hello)
	if err != nil {
		t.Fatal(err)
	}
	go p.conn.Write(append(appendHeader(nil, frameHello, 0, 0, len(helloMagic)+len(body)), append([]byte(helloMagic), body...)...))
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	defer cancel()
	type result struct {
		m   *Mux
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := NewMux(ctx, a, role, cfg)
		done <- result{m, err}
	}()
	if h, _ := p.read(); h.typ != frameHello {
		t.Fatalf("first frame is %s, want hello", h.typ)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		r.m.Close()
		p.conn.Close()
	})
	return r.m, p
}

// write sends one frame.
func (p *rawPeer) write(typ frameType, flags uint8, id uint32, payload []byte) {
	p.t.Helper()
	if _, err := p.conn.Write(append(appendHeader(nil, typ, flags, id, len(payload)), payload...)); err != nil {
		p.t.Fatalf("raw peer: write %s frame: %v", typ, err)
	}
}

// read returns the next frame the Mux sent.
func (p *rawPeer) read() (header, []byte) {
	p.t.Helper()
	var hdr [headerSize]byte
	if _, err := io.ReadFull(p.br, hdr[:]); err != nil {
		p.t.Fatalf("raw peer: read: %v", err)
	}
	h := parseHeader(hdr[:])
	payload := make([]byte, h.length)
	if _, err := io.ReadFull(p.br, payload); err != nil {
		p.t.Fatalf("raw peer: read %s payload: %v", h.typ, err)
	}
	return h, payload
}

// readUntil returns the first frame of type typ, skipping others.
func (p *rawPeer) readUntil(typ frameType) (header, []byte) {
	p.t.Helper()
	for {
		if h, b := p.read(); h.typ == typ {
			return h, b
		}
	}
}

// sync sends a ping and waits for its pong: every frame written before it
// has then been dispatched by the Mux.
func (p *rawPeer) sync(nonce uint32) {
	p.t.Helper()
	p.write(framePing, 0, nonce, nil)
	for {
		h, _ := p.read()
		if h.typ == framePong && h.id == nonce {
			return
		}
	}
}
