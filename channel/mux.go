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

// Role says which end of a connection a Mux is. The client allocates odd
// channel ids and the agent even ones, so the two never collide.
type Role uint8

const (
	RoleClient Role = 1
	RoleAgent  Role = 2
)

func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleAgent:
		return "agent"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Info is what each side tells the other in its hello.
type Info struct {
	Version string           `msgpack:"version"`
	OS      string           `msgpack:"os"`
	Arch    string           `msgpack:"arch"`
	PID     int              `msgpack:"pid,omitempty"`
	ABI     []int            `msgpack:"abi,omitempty"`
	Limits  map[string]int64 `msgpack:"limits,omitempty"`
}

// Hello is a side's complete hello: protocol version, role, flow-control
// parameters and Info.
type Hello struct {
	Proto    int  `msgpack:"proto"`
	Role     Role `msgpack:"role"`
	Window   int  `msgpack:"window"`
	MaxFrame int  `msgpack:"max_frame"`
	Info     Info `msgpack:"info"`
}

// Handler serves requests a peer makes with Call or Notify. ServeRequest
// runs on a goroutine of its own per Call; ctx ends when the connection
// does. A Notify is served on the connection's read loop, in order, so its
// handling must not block; its result is discarded.
type Handler interface {
	ServeRequest(ctx context.Context, m *Mux, kind uint8, body []byte) ([]byte, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, m *Mux, kind uint8, body []byte) ([]byte, error)

// ServeRequest calls f.
func (f HandlerFunc) ServeRequest(ctx context.Context, m *Mux, kind uint8, body []byte) ([]byte, error) {
	return f(ctx, m, kind, body)
}

// maxPendingWrite bounds the bytes of data frames queued for the writer
// before senders wait; control frames are never held back.
const maxPendingWrite = 4 << 20

// A Mux multiplexes channels and requests over one connection. It owns the
// connection: one goroutine reads and dispatches every frame, another
// writes, coalescing the frames queued meanwhile into one write.
//
// All methods are safe for concurrent use.
type Mux struct {
	conn io.ReadWriteCloser
	cfg  *Config
	role Role
	peer Hello
	br   *bufio.Reader

	// wmu guards the frames waiting for the writer. wdata wakes the writer;
	// wspace wakes senders waiting for the queue to drain.
	wmu       sync.Mutex
	wdata     *sync.Cond
	wspace    *sync.Cond
	wbuf      []byte
	wspare    []byte
	wclosed   bool
	writing   bool      // a write to conn is under way, by the writer or a sender
	direct    []byte    // a direct writer's buffer, owned while writing
	lastWrite time.Time // when the last write to conn ended

	// mu guards the channel table, id allocation and pending calls.
	mu       sync.Mutex
	chans    map[uint32]*Channel
	nextID   uint32
	peerMax  uint32 // the highest channel id the peer has opened
	calls    map[uint32]chan response
	nextCall uint32

	lastRecv atomic.Int64 // unix nanoseconds of the last frame read

	ctx       context.Context // handlers' context, cancelled when the mux ends
	cancel    context.CancelFunc
	closeOnce sync.Once
	err       error // why the mux ended; set before done is closed
	done      chan struct{}
	loops     sync.WaitGroup // reader, writer, keepalive
}

type response struct {
	body []byte
	err  error
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
		conn:  conn,
		cfg:   cfg,
		role:  role,
		br:    bufio.NewReaderSize(conn, 64<<10),
		chans: map[uint32]*Channel{},
		calls: map[uint32]chan response{},
		done:  make(chan struct{}),
	}
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
	if cfg.KeepAlive > 0 {
		m.loops.Add(1)
		go m.keepAlive()
	}
	return m, nil
}

func (m *Mux) handshake(ctx context.Context) error {
	mine := Hello{Proto: ProtocolVersion, Role: m.role, Window: m.cfg.Window, MaxFrame: m.cfg.MaxFrame, Info: m.cfg.Info}
	body, err := Marshal(&mine)
	if err != nil {
		return err
	}
	m.writeFrame(frameHello, 0, 0, append([]byte(helloMagic), body...), true)
	got := make(chan error, 1)
	go func() { got <- m.readHello() }()
	select {
	case err = <-got:
	case <-ctx.Done():
		m.conn.Close()
		// What the peer did send (a shell's one-line complaint) says more
		// than the timeout does.
		readErr := <-got
		err = fmt.Errorf("channel: waiting for the peer's hello: %w (%v)", ctx.Err(), readErr)
	}
	return err
}

func (m *Mux) readHello() error {
	var hdr [headerSize]byte
	if n, err := io.ReadFull(m.br, hdr[:]); err != nil {
		return fmt.Errorf("channel: reading the peer's hello: %w%s", err, quoteStart(hdr[:n]))
	}
	h := parseHeader(hdr[:])
	if h.typ != frameHello || h.length < uint32(len(helloMagic)) || h.length > 64<<10 {
		rest, _ := m.br.Peek(min(m.br.Buffered(), 60))
		return fmt.Errorf("channel: the peer did not start with a wasmnet hello%s", quoteStart(append(hdr[:], rest...)))
	}
	payload := make([]byte, h.length)
	if _, err := io.ReadFull(m.br, payload); err != nil {
		return fmt.Errorf("channel: reading the peer's hello: %w", err)
	}
	if string(payload[:len(helloMagic)]) != helloMagic {
		return fmt.Errorf("channel: the peer did not start with a wasmnet hello%s", quoteStart(append(hdr[:], payload...)))
	}
	var peer Hello
	if err := unmarshalInto(payload[len(helloMagic):], &peer, nil); err != nil {
		return fmt.Errorf("channel: malformed hello: %w", err)
	}
	switch {
	case peer.Proto != ProtocolVersion:
		return fmt.Errorf("channel: protocol mismatch: the peer (%s %s) speaks wasmnet protocol v%d, this side v%d",
			peer.Info.Version, peer.Role, peer.Proto, ProtocolVersion)
	case peer.Role == m.role || (peer.Role != RoleClient && peer.Role != RoleAgent):
		return fmt.Errorf("channel: the peer's role is %s, this side's %s", peer.Role, m.role)
	case peer.Window < 1024 || peer.MaxFrame < 1024:
		return fmt.Errorf("channel: the peer's window %d or max frame %d is below 1024", peer.Window, peer.MaxFrame)
	}
	m.peer = peer
	return nil
}

// quoteStart shows the first bytes a peer sent, for errors about peers that
// print something other than the protocol (a shell's "command not found").
func quoteStart(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return fmt.Sprintf(" (it sent %q)", b[:min(len(b), 70)])
}

// Peer returns the peer's hello.
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
// and returns why it ended.
func (m *Mux) Wait() error {
	<-m.done
	m.loops.Wait()
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
		if !errors.Is(err, ErrMuxClosed) {
			m.conn.Close()
		} else {
			// The writer flushes and closes; a peer that does not read
			// must not hold us forever.
			time.AfterFunc(time.Second, func() { m.conn.Close() })
		}
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
	})
}

// writeFrame queues one frame. Data frames wait while the queue is over
// maxPendingWrite; control frames never wait, so that the read loop can
// answer pings and return window credit without blocking.
func (m *Mux) writeFrame(typ frameType, flags uint8, id uint32, payload []byte, control bool) error {
	return m.writeFrameParts(typ, flags, id, nil, payload, control)
}

// writeFrameParts is writeFrame for a payload given as prefix then payload,
// so that a byte string is copied once, from the caller's slice to the batch.
func (m *Mux) writeFrameParts(typ frameType, flags uint8, id uint32, prefix, payload []byte, control bool) error {
	m.wmu.Lock()
	for !control && len(m.wbuf) > maxPendingWrite && !m.wclosed {
		m.wspace.Wait()
	}
	if m.wclosed {
		m.wmu.Unlock()
		return &connLostError{m.err}
	}
	if !control && !m.writing && len(m.wbuf) == 0 && len(prefix)+len(payload) <= maxDirectWrite &&
		time.Since(m.lastWrite) > idleGap {
		return m.writeDirect(typ, flags, id, prefix, payload)
	}
	m.wbuf = appendHeader(m.wbuf, typ, flags, id, len(prefix)+len(payload))
	m.wbuf = append(m.wbuf, prefix...)
	m.wbuf = append(m.wbuf, payload...)
	m.wdata.Signal()
	m.wmu.Unlock()
	return nil
}

// A sender whose link has been idle writes its frame itself instead of
// waking the writer goroutine: on a request/response exchange that saves a
// goroutine handoff (a thread wake-up across cores) on every message. A
// sender that finds a write under way, queued frames, or a link written
// within idleGap queues its frame, so a stream of messages still coalesces
// into few writes. The read loop never writes directly (its frames are all
// control frames), so it cannot block on a full pipe.
const (
	maxDirectWrite = 16 << 10
	idleGap        = 20 * time.Microsecond
)

// writeDirect writes one frame on the caller's goroutine. It is called
// with wmu held and no write under way, and releases wmu.
func (m *Mux) writeDirect(typ frameType, flags uint8, id uint32, prefix, payload []byte) error {
	m.writing = true
	buf := appendHeader(m.direct[:0], typ, flags, id, len(prefix)+len(payload))
	buf = append(append(buf, prefix...), payload...)
	m.wmu.Unlock()
	_, err := m.conn.Write(buf)
	m.wmu.Lock()
	m.direct = buf[:0]
	m.writing = false
	m.lastWrite = time.Now()
	m.wdata.Broadcast() // the writer waits for writes under way to end
	m.wmu.Unlock()
	if err != nil {
		err = fmt.Errorf("channel: write: %w", err)
		m.fail(err)
		return err
	}
	return nil
}

func (m *Mux) writeLoop() {
	defer m.loops.Done()
	for {
		m.wmu.Lock()
		for m.writing || len(m.wbuf) == 0 && !m.wclosed {
			m.wdata.Wait()
		}
		batch := m.wbuf
		m.wbuf, m.wspare = m.wspare[:0], nil
		closing := m.wclosed
		m.writing = len(batch) > 0
		m.wspace.Broadcast()
		m.wmu.Unlock()
		if len(batch) > 0 {
			if _, err := m.conn.Write(batch); err != nil {
				m.fail(fmt.Errorf("channel: write: %w", err))
				return
			}
		}
		m.wmu.Lock()
		m.writing = false
		m.lastWrite = time.Now()
		if cap(batch) <= 4*maxPendingWrite {
			m.wspare = batch[:0]
		}
		m.wmu.Unlock()
		if closing {
			m.conn.Close()
			return
		}
	}
}

func (m *Mux) readLoop() {
	defer m.loops.Done()
	var hdr [headerSize]byte
	var arena []byte
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
		// serves many messages, and each keeps only its own slice.
		var payload []byte
		if n := int(h.length); n <= 4096 {
			if len(arena) < n {
				arena = make([]byte, 64<<10)
			}
			payload, arena = arena[:n:n], arena[n:]
		} else {
			payload = make([]byte, n)
		}
		if _, err := io.ReadFull(m.br, payload); err != nil {
			m.fail(fmt.Errorf("channel: truncated %s frame (%d bytes announced): %w", h.typ, h.length, err))
			return
		}
		m.lastRecv.Store(time.Now().UnixNano())
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
		return c.deliver(payload)
	case frameOpen:
		return m.peerOpened(h.id)
	case frameClose:
		c, err := m.lookupForFrame(h)
		if c == nil || err != nil {
			return err
		}
		var remote *RemoteError
		if h.flags&flagError != 0 {
			remote = &RemoteError{Message: string(payload)}
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
			return fmt.Errorf("channel: response to unknown request %d", h.id)
		}
		if h.flags&flagError != 0 {
			reply <- response{err: &RemoteError{Message: string(payload)}}
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

// Call sends a request of the given kind and waits for the peer's answer.
// An error the peer's handler returned comes back as a *RemoteError.
func (m *Mux) Call(ctx context.Context, kind uint8, body []byte) ([]byte, error) {
	reply := make(chan response, 1)
	m.mu.Lock()
	if m.Err() != nil {
		m.mu.Unlock()
		return nil, &connLostError{m.err}
	}
	m.nextCall++
	if m.nextCall == 0 {
		m.nextCall = 1
	}
	id := m.nextCall
	m.calls[id] = reply
	m.mu.Unlock()
	if err := m.writeFrame(frameRequest, kind, id, body, false); err != nil {
		return nil, err
	}
	select {
	case r := <-reply:
		return r.body, r.err
	case <-ctx.Done():
		m.mu.Lock()
		delete(m.calls, id)
		m.mu.Unlock()
		return nil, ctx.Err()
	}
}

// Notify sends a request that wants no answer.
func (m *Mux) Notify(kind uint8, body []byte) error {
	return m.writeFrame(frameRequest, kind, 0, body, false)
}

// serve runs a request's handler. A notification runs on the read loop,
// so that notifications are handled in the order sent (guest output must
// not be reordered); its handler must not block. A request gets a
// goroutine, since serving it may take long (a compilation).
func (m *Mux) serve(id uint32, kind uint8, body []byte) {
	h := m.cfg.Handler
	if id == 0 {
		if h != nil {
			h.ServeRequest(m.ctx, m, kind, body)
		}
		return
	}
	// The answer is written from the handler's goroutine, never the read
	// loop, so it may wait for queue space and may be written directly.
	go func() {
		var out []byte
		err := errors.New("channel: this side serves no requests")
		if h != nil {
			out, err = h.ServeRequest(m.ctx, m, kind, body)
		}
		if err != nil {
			m.writeFrame(frameResponse, flagError, id, []byte(err.Error()), false)
			return
		}
		m.writeFrame(frameResponse, 0, id, out, false)
	}()
}

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
				m.fail(fmt.Errorf("channel: the peer has been silent for %v (keepalive timeout %v)",
					silent.Round(time.Millisecond), m.cfg.KeepAliveTimeout))
				return
			}
			nonce++
			m.writeFrame(framePing, 0, nonce, nil, true)
		}
	}
}
