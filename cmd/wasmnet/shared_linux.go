//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"github.com/wasmnet/wasmnet/host"
	"github.com/wasmnet/wasmnet/internal/shared"
)

// runShared is `wasmnet agent --shared`: the agent that popen gateways of
// one client share (gateway.WithSharedAgents). The client's end of the
// control connection is descriptor shared.ControlFD; each gateway's
// connection arrives over it, and all are served with one engine, so a
// module compiled for one is instantiated for the next. It returns once
// the client closed the control connection and every gateway's connection
// has ended; a client that dies takes the agent with it (Pdeathsig).
func runShared(ctx context.Context, cfg host.Config) error {
	f := os.NewFile(shared.ControlFD, "control")
	if f == nil {
		return errors.New("agent: --shared: no control connection")
	}
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("agent: --shared: control connection: %w", err)
	}
	ctl, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return errors.New("agent: --shared: the control connection is not a unix socket")
	}
	defer ctl.Close()
	engine, err := host.NewEngine(ctx, cfg)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer engine.Close(context.Background())
	return serveShared(ctx, ctl, cfg.WithEngine(engine), os.Stderr)
}

// serveShared serves every connection that arrives over ctl until ctl
// ends, then waits for them to end. A message that carries no single
// stream socket is refused and the next one read: only the client that
// started the agent holds the other end, but its mistakes cost a gateway,
// not the others.
func serveShared(ctx context.Context, ctl *net.UnixConn, cfg host.Config, log io.Writer) error {
	var conns sync.WaitGroup
	defer conns.Wait()
	stop := context.AfterFunc(ctx, func() { ctl.Close() })
	defer stop()
	for {
		c, err := shared.Receive(ctl)
		if errors.Is(err, shared.ErrBadMessage) {
			fmt.Fprintf(log, "wasmnet agent: %v\n", err)
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("agent: --shared: %w", err)
		}
		conns.Go(func() {
			defer c.Close()
			if err := host.Serve(ctx, c, cfg); err != nil {
				fmt.Fprintf(log, "wasmnet agent: %v\n", err)
			}
		})
	}
}
