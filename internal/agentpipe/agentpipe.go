// Package agentpipe runs a wasmnet agent on goroutines of this process,
// joined to its client by an in-memory pipe. It is the one place that does,
// so that package gateway, which does not link the agent, can still test
// against one (its own tests cannot import gateway/inproc, which imports
// gateway).
package agentpipe

import (
	"context"
	"net"
	"sync"

	"github.com/wasmnet/wasmnet/host"
	"github.com/wasmnet/wasmnet/internal/buildinfo"
)

// A Conn is the client's end of the pipe to an in-process agent. It
// satisfies gateway.AgentConn: Wait returns once the agent has served its
// end, Kill cancels it.
type Conn struct {
	net.Conn
	stop   context.CancelFunc
	served chan error

	once sync.Once
	err  error
}

// Start starts an agent configured by cfg and returns the client's end of
// its connection. The agent lives until the connection ends or Kill.
func Start(cfg host.Config) *Conn {
	clientEnd, agentEnd := net.Pipe()
	// The agent outlives the ctx that started its gateway, as any agent does.
	ctx, stop := context.WithCancel(context.Background())
	c := &Conn{Conn: clientEnd, stop: stop, served: make(chan error, 1)}
	go func() { c.served <- host.Serve(ctx, agentEnd, cfg) }()
	return c
}

// DefaultConfig is the configuration of an in-process agent unless a caller
// says otherwise: the defaults, reporting this build's version.
func DefaultConfig() host.Config {
	return host.NewConfig().WithVersion(buildinfo.ModuleVersion())
}

// Wait waits until the agent has ended and returns how.
func (c *Conn) Wait() error {
	c.once.Do(func() {
		c.err = <-c.served
		c.stop()
	})
	return c.err
}

// Kill ends the agent at once.
func (c *Conn) Kill() error {
	c.stop()
	return c.Conn.Close()
}
