package main

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// A client's slot is held by its SSH connection, not by its agents: an
// agent whose client went silent ends at its keepalive timeout, but the
// connection, and so the slot, stayed. So serve watches the connection
// itself, as OpenSSH's ClientAliveInterval does: it asks the client for a
// reply every quarter of --keepalive-timeout and drops a client that gave
// none for the whole timeout (a stopped process, a dead link), and one that
// runs no agent for as long (it authenticated and sits on the slot).

// clientWatch is the liveness of one authenticated connection.
type clientWatch struct {
	agents  atomic.Int64 // agents running on the connection
	timeout time.Duration
}

// watch closes sc once the client has been silent or idle for the timeout,
// and returns when ctx ends. It logs why it dropped the client.
func (w *clientWatch) watch(ctx context.Context, s *server, sc *ssh.ServerConn) {
	if w.timeout <= 0 {
		return
	}
	tick := time.NewTicker(max(w.timeout/4, time.Millisecond))
	defer tick.Stop()
	replied := make(chan struct{}, 1)
	asking := false
	lastReply, lastBusy := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-replied:
			asking, lastReply = false, time.Now()
		case now := <-tick.C:
			if w.agents.Load() > 0 {
				lastBusy = now
			}
			var why string
			switch {
			case now.Sub(lastReply) > w.timeout:
				why = "silent"
			case now.Sub(lastBusy) > w.timeout:
				why = "running no agent"
			}
			if why != "" {
				s.log.printf("wasmnet serve: %s: dropped: %s for %v (--keepalive-timeout %v)",
					sc.RemoteAddr(), why, w.timeout.Round(time.Millisecond), w.timeout)
				sc.Close()
				return
			}
			if !asking {
				asking = true
				go askAlive(sc, replied)
			}
		}
	}
}

// askAlive sends the client a keepalive request, which every SSH client
// answers (if only to refuse it), and signals replied when it has.
func askAlive(sc *ssh.ServerConn, replied chan<- struct{}) {
	if _, _, err := sc.SendRequest("keepalive@openssh.com", true, nil); err == nil {
		select {
		case replied <- struct{}{}:
		default:
		}
	}
}
