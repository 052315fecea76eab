package channel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/wasmnet/wasmnet/internal/blockhook"
)

// A Channel is one two-way, ordered stream of msgpack values on a Mux.
//
// All methods are safe for concurrent use. Items sent by concurrent Sends
// arrive in some order; items from one goroutine arrive in the order sent.
type Channel struct {
	mux *Mux
	id  uint32

	ready   chan struct{} // a token when an item may be waiting
	credit  chan struct{} // a token when send credit may be available
	closedC chan struct{} // closed once the channel is closed for any reason

	// mu guards everything below.
	mu       sync.Mutex
	queue    itemQueue
	unread   *int  // window bytes held in queue; apart, for the cleanup in newChannel
	consumed int   // window bytes read since credit was last returned
	sendWin  int64 // what the peer's window has room for
	closed   bool
	local    bool         // this side closed it
	remote   *RemoteError // the peer closed it with an error
	reported bool         // remote was returned once
	lost     error        // the connection died
	callback bool
	cbDone   chan struct{} // closed once the callback had the endmarker
	half     halfState     // CloseSend, in halfclose.go

	// handedOut is set, under the mux's mu, once user code can hold the
	// channel; until then a closed channel with a backlog stays in the table,
	// and unheldBytes (also under the mux's mu) counts what it holds.
	handedOut   bool
	unheldBytes int
}

// unreadCounts is what the cleanup of a channel needs: its count and its
// mux's, and nothing that holds the channel.
type unreadCounts struct {
	mux     *atomic.Int64
	channel *int
}

func newChannel(m *Mux, id uint32) *Channel {
	c := &Channel{
		mux:     m,
		id:      id,
		ready:   make(chan struct{}, 1),
		credit:  make(chan struct{}, 1),
		closedC: make(chan struct{}),
		sendWin: int64(m.peer.Window),
		unread:  new(int),
	}
	// A channel its user dropped unread and unclosed (one the peer filled
	// and closed, handed out in a value nobody looked at) must not count
	// against MaxUnreadBytes for the rest of the connection. Once c is
	// unreachable nothing else touches its count.
	runtime.AddCleanup(c, func(u unreadCounts) { u.mux.Add(-int64(*u.channel)) }, unreadCounts{m.unread, c.unread})
	return c
}

// ID returns the channel's id on its connection.
func (c *Channel) ID() uint32 { return c.id }

func (c *Channel) String() string { return fmt.Sprintf("channel %d", c.id) }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// deliver queues a data frame's payload; it runs on the read loop.
func (c *Channel) deliver(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.addUnreadLocked(len(p) + messageOverhead)
	if *c.unread > c.mux.cfg.Window+c.mux.cfg.MaxFrame+messageOverhead {
		return fmt.Errorf("channel: the peer wrote past the window of channel %d (%d bytes unread)", c.id, *c.unread)
	}
	c.queue.push(p)
	signal(c.ready)
	return nil
}

// addUnreadLocked changes the bytes queued on c, and the connection's total
// with them; c.mu must be held.
func (c *Channel) addUnreadLocked(n int) {
	*c.unread += n
	c.mux.unread.Add(int64(n))
}

// hasBacklog reports whether a receiver would still get an item or an error.
func (c *Channel) hasBacklog() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queue.len() > 0 || (c.remote != nil && !c.reported)
}

// pop takes the next queued item, or reports why there is none: nil, nil
// means wait.
func (c *Channel) pop() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.local {
		return nil, fmt.Errorf("channel: receive: %w", ErrClosed)
	}
	if c.queue.len() > 0 {
		p := c.queue.pop()
		if c.queue.len() > 0 {
			signal(c.ready) // more for another waiting receiver
		}
		c.consumeLocked(len(p) + messageOverhead)
		return p, nil
	}
	switch {
	case c.remote != nil && !c.reported:
		c.reported = true
		return nil, c.remote
	case c.lost != nil:
		return nil, &connLostError{c.lost}
	case c.closed:
		return nil, io.EOF
	case c.half.peer:
		signal(c.ready) // the next waiting receiver sees the end too
		return nil, io.EOF
	}
	return nil, nil
}

// consumeLocked returns window credit to the peer once a quarter of the
// window has been read, so that credit frames stay rare.
func (c *Channel) consumeLocked(n int) {
	c.addUnreadLocked(-n)
	c.consumed += n
	if c.consumed >= c.mux.cfg.Window/4 && !c.closed {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(c.consumed))
		c.consumed = 0
		c.mux.writeFrame(frameWindow, 0, c.id, b[:], true)
	}
}

// ReceiveRaw returns the next message as msgpack bytes, which the caller
// then owns. It ends like Receive.
func (c *Channel) ReceiveRaw(ctx context.Context) ([]byte, error) {
	for {
		p, err := c.pop()
		if p != nil || err != nil {
			return p, err
		}
		// Tests learn from the hook that a receiver waits here.
		leave := blockhook.Enter(ctx)
		select {
		case <-c.ready:
		case <-c.closedC:
			// Once closed, pop always answers: an item sent before the
			// close, or the end.
		case <-ctx.Done():
			leave()
			return nil, ctx.Err()
		}
		leave()
	}
}

// ReceiveRawFunc is ReceiveRaw that lends the message to fn instead of
// giving it away: msg is valid only until fn returns, and fn must not keep
// it, because the channel reuses its memory for a later message. For large
// messages that are consumed at once (decoded, copied, written out) it
// saves an allocation per message and the garbage collection behind it.
// ReceiveRawFunc returns ReceiveRaw's error, or else fn's.
func (c *Channel) ReceiveRawFunc(ctx context.Context, fn func(msg []byte) error) error {
	p, err := c.ReceiveRaw(ctx)
	if err != nil {
		return err
	}
	err = fn(p)
	c.mux.bufs.put(p)
	return err
}

func (c *Channel) isCallback() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.callback
}

// Receive returns the next item. Once the peer has closed the channel and
// every item has been returned, it returns io.EOF on this and every later
// call; if the peer closed with an error, a *RemoteError comes once before
// io.EOF. If ctx ends first, Receive returns ctx.Err() and the channel stays
// usable. Receive on a channel with a callback returns ErrCallback.
func (c *Channel) Receive(ctx context.Context) (any, error) {
	if c.isCallback() {
		return nil, ErrCallback
	}
	p, err := c.ReceiveRaw(ctx)
	if err != nil {
		return nil, err
	}
	v, kept, err := decodeOwned(p, c.mux)
	if !kept {
		c.mux.bufs.put(p)
	}
	return v, err
}

// ReceiveInto receives the next item and decodes it into dst, which may
// point to a struct, map, slice or any other msgpack-decodable type.
func (c *Channel) ReceiveInto(ctx context.Context, dst any) error {
	if c.isCallback() {
		return ErrCallback
	}
	p, err := c.ReceiveRaw(ctx)
	if err != nil {
		return err
	}
	return unmarshalInto(p, dst, c.mux)
}

// Send sends v, blocking while the peer's window is full. Send on a closed
// channel returns an error wrapping ErrClosed.
func (c *Channel) Send(v any) error { return c.SendContext(context.Background(), v) }

// SendContext is Send whose wait for window space ends with ctx.
func (c *Channel) SendContext(ctx context.Context, v any) error {
	if b, ok := v.([]byte); ok && len(b) >= bigBytes {
		// Only the header is encoded: the bytes go straight to the batch.
		var hdr [5]byte
		return c.sendParts(ctx, appendBinHeader(hdr[:0], len(b)), b)
	}
	bp := sendBuffers.Get().(*[]byte)
	b, err := appendValue((*bp)[:0], v, c.mux)
	if err == nil {
		err = c.SendRaw(ctx, b)
	}
	if cap(b) <= 64<<10 {
		*bp = b
		sendBuffers.Put(bp)
	}
	return err
}

var sendBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// bigBytes is the size from which Send copies a byte string once, into the
// writer's batch, instead of encoding it into a buffer first.
const bigBytes = 4 << 10

// SendRaw sends one message given as msgpack bytes. The caller vouches that
// b is one well-formed value; b may be reused once SendRaw returns.
func (c *Channel) SendRaw(ctx context.Context, b []byte) error {
	return c.sendParts(ctx, nil, b)
}

// sendParts sends the message prefix followed by b.
func (c *Channel) sendParts(ctx context.Context, prefix, b []byte) error {
	size := len(prefix) + len(b)
	if limit := c.mux.peer.MaxFrame; size > limit {
		return &FrameSizeError{Size: size, Limit: limit}
	}
	n := int64(size + messageOverhead)
	if err := c.acquire(ctx, n); err != nil {
		return err
	}
	if err := c.mux.writeFrameParts(ctx, frameData, 0, c.id, prefix, b, false); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// Not sent: the window it took is still the peer's to give.
			c.addCredit(n)
			return err
		}
		return fmt.Errorf("channel: send: %w", err)
	}
	return nil
}

// acquire waits until the peer's window has room and takes n from it. The
// last message may overdraw the window, so a message larger than the window
// still goes through once the window is empty.
func (c *Channel) acquire(ctx context.Context, n int64) error {
	for {
		c.mu.Lock()
		switch {
		case c.lost != nil:
			c.mu.Unlock()
			return fmt.Errorf("channel: send: %w", &connLostError{c.lost})
		case c.closed, c.half.local:
			c.mu.Unlock()
			return fmt.Errorf("channel: send on %v: %w", c, ErrClosed)
		case c.sendWin > 0:
			c.sendWin -= n
			if c.sendWin > 0 {
				signal(c.credit)
			}
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		select {
		case <-c.credit:
		case <-c.closedC:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Channel) addCredit(n int64) {
	c.mu.Lock()
	// Credit past the window is the peer's error or its trick; the window
	// is all it may have outstanding.
	c.sendWin = min(c.sendWin+n, int64(c.mux.peer.Window))
	c.mu.Unlock()
	signal(c.credit)
}

// markClosedLocked closes closedC once; c.mu must be held.
func (c *Channel) markClosedLocked() {
	if !c.closed {
		c.closed = true
		close(c.closedC)
	}
}

func (c *Channel) peerClosed(remote *RemoteError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.remote = remote
	}
	c.markClosedLocked()
}

// refuse closes a channel this side would not hold, dropping its items;
// whoever takes it later receives msg as the error.
func (c *Channel) refuse(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.remote = &RemoteError{Message: msg}
	}
	c.queue = itemQueue{}
	c.addUnreadLocked(-*c.unread)
	c.markClosedLocked()
}

func (c *Channel) connLost(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.lost = err
	}
	c.markClosedLocked()
}

// localClose marks the channel closed by this side, dropping its queued
// items, and reports whether it was open. Items the peer sent before its
// own close are dropped too: they count against the connection's
// MaxUnreadBytes until then, and after Close nobody will read them.
func (c *Channel) localClose() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	wasOpen := !c.closed
	c.local = true
	c.queue = itemQueue{}
	c.addUnreadLocked(-*c.unread)
	c.markClosedLocked()
	return wasOpen
}

// Close closes the channel in both directions: the peer receives what was
// already sent, then io.EOF. Items still queued here are dropped, even on
// a channel the peer closed first. Closing it again does nothing.
func (c *Channel) Close() error { return c.close(0, nil) }

// CloseWithError closes the channel; the peer receives what was already
// sent, then a *RemoteError carrying msg. An error text over 64 KiB is cut, and marked as cut.
func (c *Channel) CloseWithError(msg string) error { return c.close(flagError, cutErrorText(msg)) }

func (c *Channel) close(flags uint8, text []byte) error {
	if !c.localClose() {
		return nil
	}
	c.mux.remove(c)
	if err := c.mux.writeFrame(frameClose, flags, c.id, text, true); err != nil {
		return fmt.Errorf("channel: close: %w", err)
	}
	return nil
}

// IsClosed reports whether either side closed the channel or its connection
// ended.
func (c *Channel) IsClosed() bool {
	select {
	case <-c.closedC:
		return true
	default:
		return false
	}
}

// WaitClose blocks until the channel is closed and, on a channel with a
// callback, until the callback has had every item and the endmarker, as
// execnet's waitclose does (so calling it from the callback itself waits
// for ctx). It returns the peer's
// *RemoteError if it closed with one, an error wrapping io.EOF if the
// connection died, and nil for a normal close.
func (c *Channel) WaitClose(ctx context.Context) error {
	select {
	case <-c.closedC:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := c.waitCallback(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.remote != nil:
		return c.remote
	case c.lost != nil:
		return &connLostError{c.lost}
	}
	return nil
}

// All yields every item until the channel closes. A *RemoteError, a lost
// connection or the end of ctx is yielded once as the error, then the
// iteration stops; a normal close, by either side, just ends it.
func (c *Channel) All(ctx context.Context) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		for {
			v, err := c.Receive(ctx)
			if err == io.EOF || errors.Is(err, ErrClosed) {
				return
			}
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}

// SetCallback delivers every queued and future item to fn, in order, on one
// goroutine, and then calls fn(endmarker) exactly once when the channel
// closes, however it closes. If fn panics, the channel is closed with an
// error that the peer receives. Receive is refused on such a channel.
func (c *Channel) SetCallback(fn func(v any), endmarker any) error {
	c.mu.Lock()
	if c.callback {
		c.mu.Unlock()
		return fmt.Errorf("channel: %v already has a callback", c)
	}
	c.callback = true
	c.cbDone = make(chan struct{})
	c.mu.Unlock()
	c.mux.handlers.add()
	go func() {
		defer c.mux.handlers.done()
		c.runCallback(fn, endmarker)
	}()
	return nil
}

func (c *Channel) runCallback(fn func(v any), endmarker any) {
	defer close(c.cbDone)
	defer fn(endmarker)
	for {
		p, err := c.ReceiveRaw(context.Background())
		if err != nil {
			return
		}
		v, kept, err := decodeOwned(p, c.mux)
		if !kept {
			c.mux.bufs.put(p)
		}
		if err != nil {
			c.CloseWithError("callback: " + err.Error())
			return
		}
		if !c.call(fn, v) {
			return
		}
	}
}

func (c *Channel) call(fn func(v any), v any) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.CloseWithError(fmt.Sprintf("callback panicked: %v", r))
			ok = false
		}
	}()
	fn(v)
	return true
}
