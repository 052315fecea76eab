package channel

import "fmt"

// flagHalf on a close frame closes only its sender's side: the sender
// sends nothing more but still receives (CloseSend).
const flagHalf = 2

// halfState is what half-closes did to a channel; Channel.mu guards it.
type halfState struct {
	local bool // this side called CloseSend: Send fails, Receive goes on
	peer  bool // the peer called CloseSend: Receive ends with io.EOF after the queue
}

// CloseSend closes this side's sending direction, as x/crypto/ssh's
// CloseWrite and gRPC's CloseSend do: the peer receives what was sent, then
// io.EOF, and may go on sending; this side's Receive works until the peer
// closes too. Send afterwards returns an error wrapping ErrClosed. When
// the peer has already closed its sending side, CloseSend closes the
// channel. CloseSend on a closed channel, or twice, does nothing.
//
// A guest sees the end of its input as receive's end code (abi.ErrClosed)
// and can still send its answers.
func (c *Channel) CloseSend() error {
	c.mu.Lock()
	switch {
	case c.closed || c.half.local:
		c.mu.Unlock()
		return nil
	case c.half.peer:
		c.mu.Unlock()
		return c.Close() // both directions are done
	}
	c.half.local = true
	c.mu.Unlock()
	signal(c.credit) // a Send waiting for credit fails now
	if err := c.mux.writeFrame(frameClose, flagHalf, c.id, nil, true); err != nil {
		return fmt.Errorf("channel: close send: %w", err)
	}
	return nil
}

// peerHalfClosed handles the peer's CloseSend and reports whether the
// channel is now closed in both directions (this side had closed its
// sending side first, and the two half-closes crossed or followed).
func (c *Channel) peerHalfClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if c.half.local {
		c.markClosedLocked()
		return true
	}
	c.half.peer = true
	signal(c.ready) // a waiting Receive returns io.EOF once the queue is empty
	return false
}

// peerHalfClosedAlready reports whether the peer has closed its sending side.
func (c *Channel) peerHalfClosedAlready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.half.peer
}

// refuseChannel ends c for a fault of the peer on it alone: both sides see
// msg as the channel's error and the connection goes on.
func (m *Mux) refuseChannel(c *Channel, msg string) error {
	m.remove(c)
	c.refuse(msg)
	return m.writeFrame(frameClose, flagError, c.id, []byte(msg), true)
}
