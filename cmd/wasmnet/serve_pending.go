package main

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// pendingConns holds the connections that have not authenticated yet. When
// it is full, a new connection takes the place of the oldest of those that
// said least: a flood of connections that say nothing (or only a version
// line) then costs a real client, which sends its key exchange at once, no
// more than one retry, where dropping the oldest whatever it did let a
// burst of 2.8k connections a second reset real handshakes midway. Only
// when every pending connection is exchanging keys is the new one refused,
// with a line that names the limit.
type pendingConns struct {
	max   int
	mu    sync.Mutex
	conns []*pendingConn // oldest first
}

// pendingConn is a connection still authenticating; it counts the bytes
// the client sent, to tell a client at work from one that sits.
type pendingConn struct {
	net.Conn
	read atomic.Int64
}

func (c *pendingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// progress ranks what a pending client has done: 0 nothing, 1 some bytes
// (a version line), 2 more (its key exchange).
func (c *pendingConn) progress() int {
	switch n := c.read.Load(); {
	case n == 0:
		return 0
	case n < 256:
		return 1
	}
	return 2
}

// add counts c among the pending connections, making room if it must, and
// returns the connection to read it through; ok is false when there was
// no room to make.
func (p *pendingConns) add(c net.Conn) (_ *pendingConn, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.conns) >= p.max {
		victim := -1
		for i, x := range p.conns {
			if x.progress() < 2 && (victim < 0 || x.progress() < p.conns[victim].progress()) {
				victim = i
			}
		}
		if victim < 0 {
			return nil, false
		}
		p.conns[victim].Close()
		p.conns = append(p.conns[:victim], p.conns[victim+1:]...)
	}
	pc := &pendingConn{Conn: c}
	p.conns = append(p.conns, pc)
	return pc, true
}

func (p *pendingConns) remove(c *pendingConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.conns {
		if x == c {
			p.conns = append(p.conns[:i], p.conns[i+1:]...)
			return
		}
	}
}

// refusal is the reason given to a connection refused for want of room.
func (p *pendingConns) refusal() string {
	return fmt.Sprintf("wasmnet serve has its limit of %d connections authenticating (--max-unauthenticated); try again later", p.max)
}

// refuse tells a client why it is refused before closing its connection.
// The line comes before any protocol: an SSH client reads lines before the
// server's version as the server's words (RFC 4253, 4.2), and a wasmnet
// client quotes what it read instead of a hello.
func (s *server) refuse(conn net.Conn, why string) {
	s.log.printf("wasmnet serve: %s: refused: %s", conn.RemoteAddr(), why)
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(conn, "wasmnet serve: refused: %s\r\n", why)
}
