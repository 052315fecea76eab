package channel

import (
	"errors"
	"fmt"
)

// The channel table: id allocation, the channels the peer opened, and
// handing them to the code that uses them.

// isOwn reports whether id has this side's parity.
func (m *Mux) isOwn(id uint32) bool { return id%2 == m.nextID%2 }

// lookupForFrame finds the channel a frame is for. A frame for a channel
// that existed and is closed here is dropped (nil, nil): the peer may have
// sent it before it learnt of the close. A frame for a channel that never
// existed is a protocol error.
func (m *Mux) lookupForFrame(h header) (*Channel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.chans[h.id]; c != nil {
		return c, nil
	}
	if m.existedLocked(h.id) {
		return nil, nil
	}
	return nil, fmt.Errorf("channel: %s frame for channel %d, which was never opened", h.typ, h.id)
}

func (m *Mux) existedLocked(id uint32) bool {
	if id == 0 {
		return false
	}
	if m.isOwn(id) {
		return id < m.nextID
	}
	return id <= m.peerMax
}

func (m *Mux) peerOpened(id uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == 0 || m.isOwn(id) || id <= m.peerMax {
		return fmt.Errorf("channel: the peer opened channel %d out of order (last %d)", id, m.peerMax)
	}
	m.peerMax = id
	m.chans[id] = newChannel(m, id)
	return nil
}

// forgetClosed drops a channel the peer closed from the table, unless no
// one here holds it yet and it still has something to deliver: a channel a
// guest opened, filled and closed before the message naming it was decoded
// must still yield its items to whoever decodes that message.
func (m *Mux) forgetClosed(c *Channel) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.handedOut || !c.hasBacklog() {
		delete(m.chans, c.id)
	}
}

func (m *Mux) remove(id uint32) {
	m.mu.Lock()
	delete(m.chans, id)
	m.mu.Unlock()
}

// OpenChannel opens a new channel. The peer learns of it before any frame
// that uses it.
func (m *Mux) OpenChannel() (*Channel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err() != nil {
		return nil, &connLostError{m.err}
	}
	if m.nextID > 1<<31-2 {
		return nil, errors.New("channel: channel ids exhausted on this connection")
	}
	id := m.nextID
	m.nextID += 2
	c := newChannel(m, id)
	c.handedOut = true
	m.chans[id] = c
	// Under mu, so that opens reach the wire in id order.
	if err := m.writeFrame(frameOpen, 0, id, nil, true); err != nil {
		delete(m.chans, id)
		return nil, err
	}
	return c, nil
}

// Channel returns the channel with the given id, or nil when it is not
// open (or closed with nothing left to receive).
func (m *Mux) Channel(id uint32) *Channel {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.handOutLocked(id)
}

// handOutLocked returns the channel id from the table, marking it held by
// a user, and drops it from the table if it was kept only for that.
func (m *Mux) handOutLocked(id uint32) *Channel {
	c := m.chans[id]
	if c != nil {
		c.handedOut = true
		if c.IsClosed() {
			delete(m.chans, id)
		}
	}
	return c
}

// NumChannels returns how many channels are open.
func (m *Mux) NumChannels() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.chans)
}

// channelRef resolves a channel value received in a message. A channel that
// is already gone here, or unknown, yields a closed Channel, so that the
// value still decodes and its use ends cleanly.
func (m *Mux) channelRef(id uint32) *Channel {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.handOutLocked(id); c != nil {
		return c
	}
	c := newChannel(m, id)
	c.handedOut = true
	c.peerClosed(nil)
	return c
}
