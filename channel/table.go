package channel

import (
	"context"
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

// peerOpened adds a channel the peer opened to the table and to the
// backlog that Accept takes from. Past the backlog limit the channel is
// refused: closed at once with an error the peer receives.
func (m *Mux) peerOpened(id uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == 0 || m.isOwn(id) || id <= m.peerMax {
		return fmt.Errorf("channel: the peer opened channel %d out of order (last %d)", id, m.peerMax)
	}
	m.peerMax = id
	if m.unheld >= m.cfg.AcceptBacklog {
		// Short: a flood of opens is answered by a flood of these.
		m.writeFrame(frameClose, flagError, id, []byte(errBacklogFull), true)
		return nil
	}
	c := newChannel(m, id)
	m.chans[id] = c
	m.unheld++
	m.backlog = append(m.backlog, c)
	if len(m.backlog) > 2*m.unheld+64 {
		m.compactBacklogLocked()
	}
	signal(m.accepted)
	return nil
}

// errBacklogFull is the error text of a channel refused at open.
const errBacklogFull = "channel: refused: the accept backlog is full"

// compactBacklogLocked drops the entries that were handed out or removed.
func (m *Mux) compactBacklogLocked() {
	kept := m.backlog[:0]
	for _, c := range m.backlog {
		if !c.handedOut && m.chans[c.id] == c {
			kept = append(kept, c)
		}
	}
	clear(m.backlog[len(kept):])
	m.backlog = kept
}

// holdData accounts n bytes arriving for c, and returns false if it
// refused c instead. The bytes waiting unread on the whole connection are
// bounded by MaxUnreadBytes: each window bounds one channel, but a peer
// may fill the windows of as many channels as this side holds. As with a
// window, the frame that passes the bound is let in, and the next one
// fails its channel. Bytes waiting on channels nobody holds are bounded
// by MaxUnheldBytes, exactly.
func (m *Mux) holdData(c *Channel, n int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.chans[c.id] != c {
		return true
	}
	// Only the read loop adds to unread, so the total can only fall
	// between this check and deliver.
	if total := m.unread.Load(); total >= int64(m.cfg.MaxUnreadBytes) {
		m.refuseLocked(c, fmt.Sprintf("channel: refused channel %d: %d bytes wait unread on this connection, past its bound of %d (MaxUnreadBytes)",
			c.id, total, m.cfg.MaxUnreadBytes))
		return false
	}
	if c.handedOut {
		return true
	}
	if m.unheldBytes+n > m.cfg.MaxUnheldBytes {
		m.refuseLocked(c, fmt.Sprintf("channel: refused channel %d: %d bytes wait on channels nobody holds here", c.id, m.unheldBytes))
		return false
	}
	m.unheldBytes += n
	c.unheldBytes += n
	return true
}

// refuseLocked fails c on both sides with msg, dropping what it holds.
func (m *Mux) refuseLocked(c *Channel, msg string) {
	m.dropLocked(c)
	c.refuse(msg)
	m.writeFrame(frameClose, flagError, c.id, []byte(msg), true)
}

// dropLocked removes c from the table, and from the counts of channels
// nobody holds.
func (m *Mux) dropLocked(c *Channel) {
	if m.chans[c.id] != c {
		return
	}
	delete(m.chans, c.id)
	if !c.handedOut {
		m.unheld--
		m.unheldBytes -= c.unheldBytes
		c.unheldBytes = 0
	}
}

// Accept waits for a channel the peer opened that nobody here holds yet
// (through Accept, Channel or a channel value received), and hands it out.
// Channels come in the order the peer opened them. At most
// Config.AcceptBacklog such channels wait; the peer's opens past that are
// refused with an error it receives. Accept ends with ctx or with the
// connection.
func (m *Mux) Accept(ctx context.Context) (*Channel, error) {
	for {
		m.mu.Lock()
		for len(m.backlog) > 0 {
			c := m.backlog[0]
			m.backlog[0] = nil
			m.backlog = m.backlog[1:]
			if !c.handedOut && m.chans[c.id] == c {
				m.handOutLocked(c.id)
				m.mu.Unlock()
				return c, nil
			}
		}
		m.mu.Unlock()
		select {
		case <-m.accepted:
		case <-m.done:
			return nil, &connLostError{m.err}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// forgetClosed drops a channel the peer closed from the table, unless no
// one here holds it yet and it still has something to deliver: a channel a
// guest opened, filled and closed before the message naming it was decoded
// must still yield its items to whoever decodes that message.
func (m *Mux) forgetClosed(c *Channel) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.handedOut || !c.hasBacklog() {
		m.dropLocked(c)
	}
}

func (m *Mux) remove(c *Channel) {
	m.mu.Lock()
	m.dropLocked(c)
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
		if !c.handedOut {
			c.handedOut = true
			m.unheld--
			m.unheldBytes -= c.unheldBytes
			c.unheldBytes = 0
		}
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
