package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// installTimeout bounds how long a server started by installvia= has to
// say where it listens, when the start's ctx allows longer.
const installTimeout = 30 * time.Second

// maxListenLine bounds the line a started server announces its address on.
const maxListenLine = 256

// installSocket implements socket//installvia=ID, as execnet's installvia
// starts a socket server through a gateway: it runs `wasmnet serve` on the
// agent of gateway hop, plain TCP on the hop's loopback with room for one
// client, and connects to it through the same hop. The server ends with
// the gateway.
func installSocket(ctx context.Context, sp Spec, hop *Gateway) (*link, error) {
	srv, err := hop.runThrough(ctx, []string{selfAgent, "serve", "--insecure-plain",
		"--listen", "127.0.0.1:0", "--max-clients", "1", "--max-unauthenticated", "1"}, nil, "")
	if err != nil {
		return nil, fmt.Errorf("gateway: socket installvia=%s: start a server: %w", hop.id, err)
	}
	stop := func() error {
		srv.kill()
		return srv.wait()
	}
	addr, err := readListenAddr(ctx, srv.conn.(*channelConn))
	if err != nil {
		stop()
		return nil, fmt.Errorf("gateway: socket installvia=%s: %w", hop.id, err)
	}
	conn, err := hop.dialThrough(ctx, "tcp", addr)
	if err != nil {
		stop()
		return nil, fmt.Errorf("gateway: socket installvia=%s: %w: %w", hop.id, ErrHostUnreachable, err)
	}
	return &link{
		conn: conn,
		wait: func() error { conn.Close(); return stop() },
		kill: func() error { conn.Close(); return srv.kill() },
	}, nil
}

// openInstalledSocket finds the gateway installvia= names and installs a
// server through it.
func openInstalledSocket(ctx context.Context, sp Spec, id string, cfg *makeConfig) (*link, time.Duration, error) {
	if sp.Via != "" {
		return nil, 0, fmt.Errorf("gateway: spec %s: installvia= and via= together: the server is reached through the installvia= gateway", sp)
	}
	var hop *Gateway
	if cfg.via != nil {
		hop = cfg.via(id)
	}
	if hop == nil {
		return nil, 0, fmt.Errorf("gateway: spec %s: installvia=%s names no gateway of this group", sp, id)
	}
	l, err := installSocket(ctx, sp, hop)
	return l, networkKeepAlive, err
}

// readListenAddr reads the server's first line, "listening on ADDR", and
// checks that ADDR is on loopback: the hop's agent is trusted, but the
// line is still bounded in length and time.
func readListenAddr(ctx context.Context, c *channelConn) (string, error) {
	deadline := time.Now().Add(installTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.SetReadDeadline(deadline)
	defer c.SetReadDeadline(time.Time{})
	line, err := bufio.NewReaderSize(c, maxListenLine).ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			err = fmt.Errorf("a first line longer than %d bytes", maxListenLine)
		}
		return "", fmt.Errorf("the server did not say where it listens: %w", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "listening on ")
	host, _, err := net.SplitHostPort(addr)
	if !ok || err != nil || !net.ParseIP(host).IsLoopback() {
		return "", fmt.Errorf("the server said %q, want \"listening on\" a loopback address", line)
	}
	return addr, nil
}
