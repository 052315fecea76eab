package gateway

import (
	"context"
	"fmt"
	"io"
	"time"
)

// NewClient runs the client's side of the protocol over conn, a stream
// that reaches an agent (a net.Conn to `wasmnet serve --insecure-plain`, an
// SSH channel or session, a pipe to host.Serve), exchanges hellos and
// returns the Gateway, as ssh.NewClientConn does for SSH. ctx bounds only
// the hello. The gateway owns conn from then on and closes it when it ends.
//
// When conn is an AgentConn, the gateway reaps and, if need be, kills the
// agent through it, as it does the agents it starts from a spec; otherwise
// the agent counts as ended once conn is closed. The gateway's Spec is the
// zero Spec; its ID is gw0 unless WithID says otherwise.
func NewClient(ctx context.Context, conn io.ReadWriteCloser, opts ...Option) (*Gateway, error) {
	cfg := newMakeConfig(opts)
	return newGateway(ctx, Spec{}, cfg, func() (*link, time.Duration, error) { return connLink(conn), 0, nil })
}

// An AgentConn is a stream to an agent that can also wait for the agent to
// end and kill it, because something stands behind the stream: a process,
// an SSH session, goroutines. NewClient and a DialFunc may return one.
type AgentConn interface {
	io.ReadWriteCloser
	// Wait blocks until the agent has ended and its resources are released,
	// and says how it ended; the gateway calls it once the stream has ended.
	Wait() error
	// Kill ends the agent at once, for one that does not end in time.
	Kill() error
}

// A DialFunc reaches the agent of a spec whose type was given to
// WithTransport and returns the stream to it, which may be an AgentConn.
// ctx bounds the dial.
type DialFunc func(ctx context.Context, sp Spec) (io.ReadWriteCloser, error)

// WithTransport makes specs of type typ (as in "typ//id=a") reach their
// agent with dial, so that a Group or Make can use a transport the package
// does not build in, such as gateway/inproc's. Such specs take the common
// keys (id, chdir, env:NAME) and no value unless dial accepts them; via= is
// not supported. A built-in type cannot be replaced.
func WithTransport(typ string, dial DialFunc) Option {
	return func(c *makeConfig) {
		if c.transports == nil {
			c.transports = map[string]DialFunc{}
		}
		c.transports[typ] = dial
	}
}

// WithID sets the id of a gateway whose spec names none; the default is
// gw0. A Group names its gateways itself.
func WithID(id string) Option { return func(c *makeConfig) { c.id = id } }

// connLink is the link of a stream the caller opened.
func connLink(conn io.ReadWriteCloser) *link {
	if ac, ok := conn.(AgentConn); ok {
		w := newWaiter(ac.Wait)
		return &link{conn: conn, wait: w.wait, kill: ac.Kill}
	}
	return &link{conn: conn, wait: func() error { return nil }, kill: conn.Close}
}

// dialTransport opens the link of a spec whose type WithTransport gave.
func dialTransport(ctx context.Context, sp Spec, dial DialFunc) (*link, error) {
	conn, err := dial(ctx, sp)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", sp.Type, err)
	}
	if conn == nil {
		return nil, fmt.Errorf("gateway: %s: the transport returned no connection", sp.Type)
	}
	return connLink(conn), nil
}
