package channel

import (
	"fmt"
	"time"
)

// Keepalive: pings on an idle connection and the timeout for a silent peer.

func (m *Mux) keepAlive() {
	defer m.loops.Done()
	t := time.NewTicker(m.cfg.KeepAlive)
	defer t.Stop()
	var nonce uint32
	for {
		select {
		case <-m.done:
			return
		case now := <-t.C:
			silent := now.Sub(time.Unix(0, m.lastRecv.Load()))
			if silent > m.cfg.KeepAliveTimeout {
				m.fail(fmt.Errorf("%w: the peer has been silent for %v (timeout %v)",
					ErrKeepAliveTimeout, silent.Round(time.Millisecond), m.cfg.KeepAliveTimeout))
				return
			}
			nonce++
			m.writeFrame(framePing, 0, nonce, nil, true)
		}
	}
}
