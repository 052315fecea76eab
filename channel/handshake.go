package channel

import (
	"context"
	"fmt"
	"io"
)

// The hello exchange, the first thing on every connection: each side
// sends its Hello and reads the peer's before any other frame.

// Role says which end of a connection a Mux is. The client allocates odd
// channel ids and the agent even ones, so the two never collide.
type Role uint8

const (
	RoleClient Role = 1
	RoleAgent  Role = 2
)

func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleAgent:
		return "agent"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Info is what each side tells the other in its hello.
type Info struct {
	Version string           `msgpack:"version"`
	OS      string           `msgpack:"os"`
	Arch    string           `msgpack:"arch"`
	PID     int              `msgpack:"pid,omitempty"`
	ABI     []int            `msgpack:"abi,omitempty"`
	Limits  map[string]int64 `msgpack:"limits,omitempty"`

	// Cwd and Executable are an agent's working directory and binary at
	// its start (execnet's _rinfo()); a client leaves them empty.
	Cwd        string `msgpack:"cwd,omitempty"`
	Executable string `msgpack:"executable,omitempty"`
}

// Hello is a side's complete hello: protocol version, role, flow-control
// parameters and Info.
type Hello struct {
	Proto    int  `msgpack:"proto"`
	Role     Role `msgpack:"role"`
	Window   int  `msgpack:"window"`
	MaxFrame int  `msgpack:"max_frame"`
	// KeepAliveTimeout, in milliseconds, is how long this side lets the
	// peer be silent before it takes it for gone; the peer pings often
	// enough. Zero: no timeout.
	KeepAliveTimeout int64 `msgpack:"keepalive_timeout,omitempty"`
	Info             Info  `msgpack:"info"`
}

func (m *Mux) handshake(ctx context.Context) error {
	mine := Hello{Proto: ProtocolVersion, Role: m.role, Window: m.cfg.Window, MaxFrame: m.cfg.MaxFrame,
		KeepAliveTimeout: m.cfg.KeepAliveTimeout.Milliseconds(), Info: m.cfg.Info}
	body, err := Marshal(&mine)
	if err != nil {
		return err
	}
	m.writeFrame(frameHello, 0, 0, append([]byte(helloMagic), body...), true)
	got := make(chan error, 1)
	go func() { got <- m.readHello() }()
	select {
	case err = <-got:
	case <-ctx.Done():
		m.conn.Close()
		// What the peer did send (a shell's one-line complaint) says more
		// than the timeout does.
		readErr := <-got
		err = fmt.Errorf("channel: waiting for the peer's hello: %w (%v)", ctx.Err(), readErr)
	}
	return err
}

func (m *Mux) readHello() error {
	var hdr [headerSize]byte
	if n, err := io.ReadFull(m.br, hdr[:]); err != nil {
		return fmt.Errorf("channel: reading the peer's hello: %w%s", err, quoteStart(hdr[:n]))
	}
	h := parseHeader(hdr[:])
	if h.typ != frameHello || h.length < uint32(len(helloMagic)) || h.length > 64<<10 {
		rest, _ := m.br.Peek(min(m.br.Buffered(), 60))
		return fmt.Errorf("channel: the peer did not start with a wasmnet hello%s", quoteStart(append(hdr[:], rest...)))
	}
	payload := make([]byte, h.length)
	if _, err := io.ReadFull(m.br, payload); err != nil {
		return fmt.Errorf("channel: reading the peer's hello: %w", err)
	}
	if string(payload[:len(helloMagic)]) != helloMagic {
		return fmt.Errorf("channel: the peer did not start with a wasmnet hello%s", quoteStart(append(hdr[:], payload...)))
	}
	var peer Hello
	if err := unmarshalInto(payload[len(helloMagic):], &peer, nil); err != nil {
		return fmt.Errorf("channel: malformed hello: %w", err)
	}
	switch {
	case peer.Proto != ProtocolVersion:
		return fmt.Errorf("channel: protocol mismatch: the peer (%s %s) speaks wasmnet protocol v%d, this side v%d",
			peer.Info.Version, peer.Role, peer.Proto, ProtocolVersion)
	case peer.Role == m.role || (peer.Role != RoleClient && peer.Role != RoleAgent):
		return fmt.Errorf("channel: the peer's role is %s, this side's %s", peer.Role, m.role)
	case peer.KeepAliveTimeout < 0:
		return fmt.Errorf("channel: the peer's keepalive timeout %d ms is negative", peer.KeepAliveTimeout)
	case peer.Window < 1024 || peer.MaxFrame < 1024:
		return fmt.Errorf("channel: the peer's window %d or max frame %d is below 1024", peer.Window, peer.MaxFrame)
	}
	m.peer = capPeer(peer, m.cfg)
	return nil
}

// capPeer returns the peer's hello with each limit it declares capped by
// this side's own. The peer's limits say how much it will take; this side
// sizes its queues and write buffers by them, so a peer declaring a max
// frame of 2^62 would otherwise choose the bound meant to hold it.
func capPeer(peer Hello, own *Config) Hello {
	peer.MaxFrame = min(peer.MaxFrame, own.MaxFrame)
	peer.Window = min(peer.Window, own.Window)
	return peer
}

// quoteStart shows the first bytes a peer sent, for errors about peers that
// print something other than the protocol (a shell's "command not found").
func quoteStart(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return fmt.Sprintf(" (it sent %q)", b[:min(len(b), 70)])
}
