package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// A via= gateway reaches its agent through another gateway's agent, as ssh
// -J does: the hop only dials a TCP address or runs a command with the byte
// stream bridged to a channel (wire.KindDial, wire.KindCommand).
// Everything else, SSH included, runs here, so credentials never leave the
// client and the hop needs no SSH code.

// selfAgent, as a command's argv[0], asks a hop to run its own executable.
const selfAgent = "@self"

// openViaLink opens sp's transport through hop.
func openViaLink(ctx context.Context, sp Spec, hop *Gateway, cfg *makeConfig) (*link, time.Duration, error) {
	switch sp.Type {
	case "ssh":
		l, _, err := dialSSH(ctx, sp, agentBinaries(cfg), hop.dialThrough, nil)
		return l, networkKeepAlive, err
	case "socket":
		l, err := dialSocket(ctx, sp, hop.dialThrough)
		return l, networkKeepAlive, err
	case "popen":
		l, err := hop.runThrough(ctx, []string{selfAgent, "agent"}, sp.agentEnv(), sp.Chdir)
		return l, 0, err
	case "exec":
		argv, err := splitWords(sp.Value)
		if err != nil || len(argv) == 0 {
			return nil, 0, fmt.Errorf("gateway: exec %q via %s: bad command: %v", sp.Value, hop.id, err)
		}
		l, err := hop.runThrough(ctx, argv, sp.Env, sp.Chdir)
		return l, 0, err
	}
	return nil, 0, fmt.Errorf("gateway: %s gateways cannot go via another gateway", sp.Type)
}

// dialThrough connects to addr from the hop's agent.
func (g *Gateway) dialThrough(ctx context.Context, network, addr string) (net.Conn, error) {
	g.tr.Printf("gateway %s: dial %s %s for a gateway behind it", g.id, network, addr)
	ch, err := g.mux.OpenChannel()
	if err != nil {
		return nil, fmt.Errorf("gateway %s: dial %s: %w", g.id, addr, err)
	}
	body, err := msgpack.Marshal(&wire.DialRequest{Channel: ch.ID(), Network: network, Address: addr})
	if err == nil {
		_, err = g.mux.Call(ctx, wire.KindDial, body)
	}
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("gateway %s: dial %s: %w", g.id, addr, err)
	}
	return newChannelConn(ch, "via "+g.id, addr), nil
}

// runThrough runs argv on the hop's agent with its stdio as the link.
func (g *Gateway) runThrough(ctx context.Context, argv, env []string, dir string) (*link, error) {
	g.tr.Printf("gateway %s: run %q for a gateway behind it", g.id, argv)
	ch, err := g.mux.OpenChannel()
	if err != nil {
		return nil, fmt.Errorf("gateway %s: run %s: %w", g.id, argv[0], err)
	}
	body, err := msgpack.Marshal(&wire.CommandRequest{Channel: ch.ID(), Argv: argv, Env: env, Dir: dir})
	if err == nil {
		_, err = g.mux.Call(ctx, wire.KindCommand, body)
	}
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("gateway %s: run %s: %w", g.id, argv[0], err)
	}
	conn := newChannelConn(ch, "via "+g.id, argv[0])
	return &link{
		conn: conn,
		wait: func() error { return ch.WaitClose(context.Background()) },
		kill: conn.Close,
	}, nil
}

// channelConn is a net.Conn over a channel carrying byte-string items.
type channelConn struct {
	ch          *channel.Channel
	local, peer string

	rmu  sync.Mutex // serialises reads and guards rest
	rest []byte

	dmu           sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
}

func newChannelConn(ch *channel.Channel, local, peer string) *channelConn {
	return &channelConn{ch: ch, local: local, peer: peer}
}

func (c *channelConn) deadlineCtx(d time.Time) (context.Context, context.CancelFunc) {
	if d.IsZero() {
		return context.WithCancel(context.Background())
	}
	return context.WithDeadline(context.Background(), d)
}

func (c *channelConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.rest) == 0 {
		c.dmu.Lock()
		ctx, cancel := c.deadlineCtx(c.readDeadline)
		c.dmu.Unlock()
		v, err := c.ch.Receive(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, os.ErrDeadlineExceeded
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, channel.ErrClosed) {
				return 0, io.EOF
			}
			return 0, err
		}
		b, ok := v.([]byte)
		if !ok {
			return 0, fmt.Errorf("gateway: stream %s got an item of type %T, want bytes", c.peer, v)
		}
		c.rest = b
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

func (c *channelConn) Write(p []byte) (int, error) {
	c.dmu.Lock()
	ctx, cancel := c.deadlineCtx(c.writeDeadline)
	c.dmu.Unlock()
	defer cancel()
	for sent := 0; sent < len(p); {
		n := min(len(p)-sent, 1<<20)
		if err := c.ch.SendContext(ctx, p[sent:sent+n]); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return sent, os.ErrDeadlineExceeded
			}
			return sent, err
		}
		sent += n
	}
	return len(p), nil
}

func (c *channelConn) Close() error { return c.ch.Close() }

func (c *channelConn) LocalAddr() net.Addr  { return hopAddr(c.local) }
func (c *channelConn) RemoteAddr() net.Addr { return hopAddr(c.peer) }

func (c *channelConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *channelConn) SetReadDeadline(t time.Time) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.readDeadline = t
	return nil
}

func (c *channelConn) SetWriteDeadline(t time.Time) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.writeDeadline = t
	return nil
}

type hopAddr string

func (a hopAddr) Network() string { return "wasmnet" }
func (a hopAddr) String() string  { return string(a) }
