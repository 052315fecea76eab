package channel

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// A Mux multiplexes channels and requests over one connection. It owns the
// connection: one goroutine reads and dispatches every frame, another
// writes, coalescing the frames queued meanwhile into one write.
//
// All methods are safe for concurrent use.
//
// The files of the package split a Mux as x/crypto/ssh does: handshake.go
// (the hello), writer.go (the write queue and the writer), request.go
// (Call, Notify, serving), table.go (channel ids and the channel table),
// keepalive.go, and this file (its life and the read loop).
//
// Lock order: mu, then a Channel's mu, then wmu. A goroutine holding one
// of them may take a later one, never an earlier one. No lock is held while
// writing to or reading from conn, or while a handler or callback runs.
type Mux struct {
	conn io.ReadWriteCloser
	cfg  *Config
	role Role
	peer Hello
	br   *bufio.Reader

	// wmu guards the frames waiting for the writer. wdata wakes the writer;
	// wspace wakes senders waiting for the queue to drain.
	wmu     sync.Mutex
	wdata   *sync.Cond
	wspace  *sync.Cond
	wbuf    []byte
	wspare  []byte
	wclosed bool
	writing bool // a write to conn is under way, by the writer or a sender
	// largeArrived and largeLeft count the large frames that came to
	// wait for the queue to empty and that stopped waiting. A small data
	// frame waits until as many have left as had come before it, so that
	// a stream of small frames cannot keep the queue from emptying, nor
	// a stream of large frames (one of which always waits) hold a small
	// one back for ever.
	largeArrived, largeLeft uint64
	direct                  []byte    // a direct writer's buffer, owned while writing
	lastWrite               time.Time // when the last write to conn ended

	// mu guards the channel table, id allocation and pending calls.
	mu           sync.Mutex
	chans        map[uint32]*Channel
	nextID       uint32
	peerMax      uint32     // the highest channel id the peer has opened
	backlog      []*Channel // opened by the peer, for Accept; may hold stale entries
	unheld       int        // channels in chans the peer opened that nobody holds
	unheldBytes  int        // the bytes they hold
	calls        map[uint32]chan response
	nextCall     uint32
	serving      int // the peer's requests whose handlers run, in request.go
	servingBytes int
	accepted     chan struct{} // a token when the backlog may have grown

	lastRecv atomic.Int64 // unix nanoseconds of the last bytes read
	// unread is the window bytes queued unread on all channels together
	// (see holdData). It is allocated apart from the Mux, so that the
	// cleanup of each channel (newChannel) can hold it without holding
	// the Mux, which holds the channel: a cleanup that reaches its own
	// object never runs, and kept the Mux, and the agent it serves, for
	// the life of the process.
	unread *atomic.Int64
	cutOff atomic.Bool // the peer left too much unread; fail is under way

	ctx       context.Context // handlers' context, cancelled when the mux ends
	cancel    context.CancelFunc
	closeOnce sync.Once
	err       error // why the mux ended; set before done is closed
	done      chan struct{}
	loops     sync.WaitGroup // reader, writer, keepalive
	handlers  tracker        // request handlers and channel callbacks

	bufs bufPool // large payloads, back from ReceiveRawFunc
}

// tracker counts goroutines that may start at any time, even while someone
// waits for the count to reach zero (which a sync.WaitGroup forbids).
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero; nil if nobody waits
}

func (t *tracker) add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	if t.n--; t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
	t.mu.Unlock()
}

func (t *tracker) wait() {
	for {
		t.mu.Lock()
		if t.n == 0 {
			t.mu.Unlock()
			return
		}
		if t.idle == nil {
			t.idle = make(chan struct{})
		}
		idle := t.idle
		t.mu.Unlock()
		<-idle
	}
}

// NewMux runs the hello exchange on conn and returns the running Mux. ctx
// bounds only the exchange. On error conn is closed.
func NewMux(ctx context.Context, conn io.ReadWriteCloser, role Role, cfg *Config) (*Mux, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		conn.Close()
		return nil, err
	}
	m := &Mux{
		conn:   conn,
		cfg:    cfg,
		role:   role,
		chans:  map[uint32]*Channel{},
		calls:  map[uint32]chan response{},
		done:   make(chan struct{}),
		unread: new(atomic.Int64),

		accepted: make(chan struct{}, 1),
	}
	// 16 KiB batches a thousand small frames per read, and larger
	// payloads are read past it; a client holds one per gateway.
	m.br = bufio.NewReaderSize(timedReader{conn, &m.lastRecv}, readBuffer)
	m.wdata = sync.NewCond(&m.wmu)
	m.wspace = sync.NewCond(&m.wmu)
	m.nextID = 1
	if role == RoleAgent {
		m.nextID = 2
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.loops.Add(1)
	go m.writeLoop()
	if err := m.handshake(ctx); err != nil {
		m.fail(err)
		m.loops.Wait()
		return nil, err
	}
	m.lastRecv.Store(time.Now().UnixNano())
	m.loops.Add(1)
	go m.readLoop()
	if m.pingEvery() > 0 || m.timeout() > 0 {
		m.loops.Add(1)
		go m.keepAlive()
	}
	return m, nil
}

// Peer returns the peer's hello, its window and max frame capped by this
// side's own (Config.Window, Config.MaxFrame): this side never sends more
// than its own limits, whatever the peer declared.
func (m *Mux) Peer() Hello { return m.peer }

// Role returns this side's role.
func (m *Mux) Role() Role { return m.role }

// Done is closed when the mux has ended.
func (m *Mux) Done() <-chan struct{} { return m.done }

// Err returns why the mux ended, or nil while it runs.
func (m *Mux) Err() error {
	select {
	case <-m.done:
		return m.err
	default:
		return nil
	}
}

// Wait blocks until the mux has ended and its goroutines have returned,
// request handlers and channel callbacks included, and returns why it
// ended. Handlers see their ctx end with the mux; a callback returns once
// its channel (closed with the mux) has delivered its endmarker.
func (m *Mux) Wait() error {
	<-m.done
	m.loops.Wait()
	m.handlers.wait()
	return m.err
}

// Close ends the mux: frames already queued are flushed for up to a second,
// then the connection is closed, and every channel and call ends with an
// error.
func (m *Mux) Close() error {
	m.fail(ErrMuxClosed)
	m.loops.Wait()
	return nil
}

// fail ends the mux with cause err. Only the first cause is kept.
func (m *Mux) fail(err error) {
	m.closeOnce.Do(func() {
		m.err = err
		close(m.done)
		m.cancel()
		m.wmu.Lock()
		m.wclosed = true
		m.wdata.Broadcast()
		m.wspace.Broadcast()
		m.wmu.Unlock()
		// Waiters learn of the end before the conn is closed: closing an
		// arbitrary conn may block (an SSH session on a dead link waits
		// behind its stuck writer).
		m.mu.Lock()
		chans := m.chans
		m.chans = map[uint32]*Channel{}
		calls := m.calls
		m.calls = map[uint32]chan response{}
		m.mu.Unlock()
		for _, c := range chans {
			c.connLost(err)
		}
		for _, reply := range calls {
			reply <- response{err: &connLostError{err}}
		}
		if !errors.Is(err, ErrMuxClosed) {
			m.conn.Close()
		} else {
			// The writer flushes and closes; a peer that does not read
			// must not hold us forever.
			time.AfterFunc(time.Second, func() { m.conn.Close() })
		}
	})
}

func (m *Mux) readLoop() {
	defer m.loops.Done()
	var hdr [headerSize]byte
	var arena []byte
	arenaSize := minArena
	for {
		if _, err := io.ReadFull(m.br, hdr[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("channel: truncated frame header: %w", err)
			}
			m.fail(err)
			return
		}
		h := parseHeader(hdr[:])
		if int64(h.length) > int64(m.cfg.MaxFrame)+headerSize {
			m.fail(fmt.Errorf("channel: %s frame of %d bytes exceeds the limit of %d bytes", h.typ, h.length, m.cfg.MaxFrame))
			return
		}
		// Small payloads are cut from a shared arena: one allocation
		// serves many messages, and each keeps only its own slice. The
		// arena doubles as it is used up, so that a quiet connection (one
		// of a client's many idle gateways) holds little.
		var payload []byte
		if n := int(h.length); n < minPooled {
			if len(arena) < n {
				arena = make([]byte, arenaSize)
				arenaSize = min(2*arenaSize, maxArena)
			}
			payload, arena = arena[:n:n], arena[n:]
		} else {
			payload = m.bufs.get(n)
		}
		if _, err := io.ReadFull(m.br, payload); err != nil {
			m.fail(fmt.Errorf("channel: truncated %s frame (%d bytes announced): %w", h.typ, h.length, err))
			return
		}
		if err := m.dispatch(h, payload); err != nil {
			m.fail(err)
			return
		}
	}
}

func (m *Mux) dispatch(h header, payload []byte) error {
	switch h.typ {
	case frameData:
		c, err := m.lookupForFrame(h)
		if c == nil || err != nil {
			return err
		}
		if c.peerHalfClosedAlready() {
			return m.refuseChannel(c, fmt.Sprintf("channel: the peer sent data on channel %d after its CloseSend", c.id))
		}
		if !m.holdData(c, len(payload)+messageOverhead) {
			// Refused, and held by nobody: the next frame reuses it.
			m.bufs.put(payload)
			return nil
		}
		return c.deliver(payload)
	case frameOpen:
		return m.peerOpened(h.id)
	case frameClose:
		c, err := m.lookupForFrame(h)
		if c == nil || err != nil {
			return err
		}
		if h.flags&flagHalf != 0 {
			if c.peerHalfClosed() {
				m.forgetClosed(c)
			}
			return nil
		}
		var remote *RemoteError
		if h.flags&flagError != 0 {
			remote = &RemoteError{Message: string(cutErrorText(string(payload)))}
		}
		c.peerClosed(remote)
		m.forgetClosed(c)
		return nil
	case frameWindow:
		if len(payload) != 4 {
			return fmt.Errorf("channel: window frame of %d bytes", len(payload))
		}
		c, err := m.lookupForFrame(h)
		if c != nil {
			c.addCredit(int64(binary.BigEndian.Uint32(payload)))
		}
		return err
	case frameRequest:
		m.serve(h.id, h.flags, payload)
		return nil
	case frameResponse:
		m.mu.Lock()
		reply := m.calls[h.id]
		delete(m.calls, h.id)
		m.mu.Unlock()
		if reply == nil {
			// Nobody waits for it: its caller's ctx ended, as x/crypto/ssh
			// and yamux drop a reply to a forgotten request.
			return nil
		}
		if h.flags&flagError != 0 {
			reply <- response{err: &RemoteError{Message: string(cutErrorText(string(payload)))}}
		} else {
			reply <- response{body: payload}
		}
		return nil
	case framePing:
		return m.writeFrame(framePong, 0, h.id, nil, true)
	case framePong:
		return nil
	}
	return fmt.Errorf("channel: unexpected %s frame", h.typ)
}
