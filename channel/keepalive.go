package channel

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Keepalive: pings on an idle connection and the timeout for a silent peer.

// Each side may enforce a keepalive timeout (Config.KeepAliveTimeout) and
// says so in its hello. A side that enforces one takes the peer for gone
// after the shorter of the two timeouts, and each side pings at least four
// times per the timeout the other enforces, so that an idle but live
// connection is never taken for dead.
// Any bytes read count as a sign of life, so that a frame that takes long to
// arrive over a slow link does not end the connection.
//
// Both ends notice a cut link alike: an agent whose client gave up after
// 1.5 s must not compute on for its own minute. Nor can it count on the
// transport to end it: the agent's pings are traffic from the session's
// command, and sshd (OpenSSH 9.2) runs its ClientAlive check only when a
// whole interval passed with nothing to do, so it never notices a dead
// client of an agent that pings, and never closes the agent's stdin.

// silenceLimit is how long a side that enforces the timeout own lets a peer
// that announced other be silent: the shorter of the two; zero (none) when
// own is zero.
func silenceLimit(own, other time.Duration) time.Duration {
	if own > 0 && other > 0 && other < own {
		return other
	}
	return own
}

// timeout returns how long this side lets the peer be silent.
func (m *Mux) timeout() time.Duration {
	return silenceLimit(m.cfg.KeepAliveTimeout, time.Duration(m.peer.KeepAliveTimeout)*time.Millisecond)
}

// pingEvery returns how often this side pings on an idle connection: as
// configured, or more often if the peer's limit asks for it.
func (m *Mux) pingEvery() time.Duration {
	every := m.cfg.KeepAlive
	peer := silenceLimit(time.Duration(m.peer.KeepAliveTimeout)*time.Millisecond, m.cfg.KeepAliveTimeout)
	if peer > 0 {
		if p := peer / 4; every == 0 || p < every {
			every = max(p, time.Millisecond)
		}
	}
	return every
}

func (m *Mux) keepAlive() {
	defer m.loops.Done()
	ping, timeout := m.pingEvery(), m.timeout()
	tick := ping
	if timeout > 0 && (tick == 0 || timeout/4 < tick) {
		tick = max(timeout/4, time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var nonce uint32
	var lastPing time.Time
	for {
		select {
		case <-m.done:
			return
		case now := <-t.C:
			silent := now.Sub(time.Unix(0, m.lastRecv.Load()))
			if timeout > 0 && silent > timeout {
				m.fail(fmt.Errorf("%w: the peer has been silent for %v (timeout %v)",
					ErrKeepAliveTimeout, silent.Round(time.Millisecond), timeout))
				return
			}
			if ping > 0 && now.Sub(lastPing) >= ping-tick/2 {
				lastPing = now
				nonce++
				m.writeFrame(framePing, 0, nonce, nil, true)
			}
		}
	}
}

// timedReader notes the time of every read that returned bytes.
type timedReader struct {
	r    io.Reader
	last *atomic.Int64
}

func (t timedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.last.Store(time.Now().UnixNano())
	}
	return n, err
}
