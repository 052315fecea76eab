package channel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// The write side of a Mux: frames are queued under wmu and written by the
// writer goroutine in batches, or by an idle sender directly.

// maxPendingWrite bounds the bytes of data frames queued for the writer
// before senders wait; control frames are never held back. A connection
// under a flood of small items holds two buffers of about this size, one
// being written and one filling. At 4 MiB a client flooding a guest grew
// its heap by 8 MiB more than at 1 MiB, and wrote no faster: one write of
// 1 MiB already costs the kernel far more than the call does.
const maxPendingWrite = 1 << 20

// maxPendingControl bounds the control frames queued on top of data frames:
// room for the refusals of a million opens past the backlog.
const maxPendingControl = 64 << 20

// maxQueued is how many bytes may wait for the writer before a control
// frame cuts the peer off. It is this side's own: frames of a peer's max
// frame never wait in the queue (a large frame is written from its
// sender's slice), so the peer's hello cannot widen it.
func (m *Mux) maxQueued() int { return maxPendingWrite + maxPendingControl }

// writeFrame queues one frame. Data frames wait while the queue is over
// maxPendingWrite; control frames never wait, so that the read loop can
// answer pings and return window credit without blocking.
func (m *Mux) writeFrame(typ frameType, flags uint8, id uint32, payload []byte, control bool) error {
	return m.writeFrameParts(context.Background(), typ, flags, id, nil, payload, control)
}

// writeFrameParts is writeFrame for a payload given as prefix then payload,
// so that a byte string is copied once, from the caller's slice to the batch.
// A data frame's wait for room ends with ctx, unsent.
//
// A frame larger than the peer's max_frame fails here, its own operation
// only: sent, it would end the connection with everything on it.
func (m *Mux) writeFrameParts(ctx context.Context, typ frameType, flags uint8, id uint32, prefix, payload []byte, control bool) error {
	if size := len(prefix) + len(payload); m.peer.MaxFrame > 0 && size > m.peer.MaxFrame {
		return &FrameSizeError{Size: size, Limit: m.peer.MaxFrame}
	}
	large := !control && len(prefix)+len(payload) >= minLargeWrite
	m.wmu.Lock()
	if !control && !large {
		// Only the large frames that wait now hold it back: those that
		// come later wait for it in turn.
		ahead := m.largeArrived
		err := m.waitLocked(ctx, func() bool { return len(m.wbuf) > maxPendingWrite || m.largeLeft < ahead })
		if err != nil {
			m.wmu.Unlock()
			return err
		}
	}
	if m.wclosed {
		m.wmu.Unlock()
		return &connLostError{m.err}
	}
	if limit := m.maxQueued(); control && len(m.wbuf) > limit {
		// Control frames never wait, so a peer that provokes them
		// (pings, opens to refuse, requests) and reads nothing would grow
		// the queue without bound.
		n := len(m.wbuf)
		m.wmu.Unlock()
		err := fmt.Errorf("%w: %d bytes wait to be written, past the limit of %d", ErrPeerNotReading, n, limit)
		// The caller may hold mu or a channel's mu (a refusal, returned
		// credit), which fail takes: it runs on a goroutine of its own,
		// once.
		if m.cutOff.CompareAndSwap(false, true) {
			m.handlers.add()
			go func() {
				defer m.handlers.done()
				m.fail(err)
			}()
		}
		return err
	}
	if large {
		return m.writeLarge(ctx, typ, flags, id, prefix, payload)
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
// with wmu held and no write under way, and releases wmu. A small payload
// goes out in one write with its header; a large one is written from the
// caller's slice (see writeLarge).
func (m *Mux) writeDirect(typ frameType, flags uint8, id uint32, prefix, payload []byte) error {
	m.writing = true
	large := len(prefix)+len(payload) >= minLargeWrite
	buf := appendHeader(m.direct[:0], typ, flags, id, len(prefix)+len(payload))
	buf = append(buf, prefix...)
	if !large {
		buf = append(buf, payload...)
	}
	m.wmu.Unlock()
	_, err := m.conn.Write(buf)
	if err == nil && large {
		_, err = m.conn.Write(payload)
	}
	m.wmu.Lock()
	m.direct = buf[:0]
	return m.endDirectLocked(err)
}

// endDirectLocked ends a write made on the caller's goroutine, which err
// says how it went, and unlocks wmu.
func (m *Mux) endDirectLocked(err error) error {
	m.writing = false
	m.lastWrite = time.Now()
	// The writer and large frames wait for writes under way to end; a
	// large frame that came during a small direct write waited forever
	// when only the writer was woken here.
	m.wdata.Broadcast()
	m.wspace.Broadcast()
	m.wmu.Unlock()
	if err != nil {
		// The write may have failed because the mux ended for another
		// reason (a keepalive timeout closes the conn under a blocked
		// write): the sender learns that first cause, as queued senders do.
		m.fail(fmt.Errorf("channel: write: %w", err))
		return &connLostError{m.err}
	}
	return nil
}

// minLargeWrite is the size from which a data frame is written from the
// sender's slice rather than copied into the batch: for a big message the
// copy cost as much as the write, and grew a batch buffer per message that
// the writer dropped again whenever it caught up.
const minLargeWrite = 64 << 10

// writeLarge writes one large frame on the caller's goroutine, after the
// frames queued before it and any write under way. It is called with wmu
// held and releases it. Frames queued meanwhile wait for it, so the frames
// of each channel stay in order.
func (m *Mux) writeLarge(ctx context.Context, typ frameType, flags uint8, id uint32, prefix, payload []byte) error {
	if err := m.awaitTurnLocked(ctx); err != nil {
		return err
	}
	return m.writeDirect(typ, flags, id, prefix, payload)
}

// awaitTurnLocked waits, holding wmu, until the frames queued before and
// any write under way are written; small data frames wait meanwhile. It
// unlocks wmu if the mux closed or ctx ended.
func (m *Mux) awaitTurnLocked(ctx context.Context) error {
	m.largeArrived++
	err := m.waitLocked(ctx, func() bool { return m.writing || len(m.wbuf) > 0 })
	m.largeLeft++
	m.wspace.Broadcast() // the small frames held back for it
	if err == nil && m.wclosed {
		err = &connLostError{m.err}
	}
	if err != nil {
		m.wmu.Unlock()
	}
	return err
}

// waitLocked waits on wspace, holding wmu, while busy reports true, until
// the mux closes or ctx ends, whose error it then returns.
func (m *Mux) waitLocked(ctx context.Context, busy func() bool) error {
	if busy() && !m.wclosed && ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			m.wmu.Lock()
			m.wspace.Broadcast()
			m.wmu.Unlock()
		})
		defer stop()
	}
	for busy() && !m.wclosed {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.wspace.Wait()
	}
	return nil
}

// streamChunk is how much of a streamed frame's body writeStream reads
// and writes at a time.
const streamChunk = 64 << 10

// writeStream writes one frame of prefix followed by n bytes read from r,
// on the caller's goroutine, after the frames queued before it and any
// write under way, as writeLarge does. If r ends or fails before n bytes,
// or stalls until ctx ends or for streamStall, the frame is completed
// with zeros, so that the stream stays in step, and readErr says why:
// every frame of the connection waits while the frame is written.
func (m *Mux) writeStream(ctx context.Context, typ frameType, flags uint8, id uint32, prefix []byte, r io.Reader, n int) (readErr, err error) {
	if size := len(prefix) + n; m.peer.MaxFrame > 0 && size > m.peer.MaxFrame {
		return nil, &FrameSizeError{Size: size, Limit: m.peer.MaxFrame}
	}
	m.wmu.Lock()
	if err := m.awaitTurnLocked(ctx); err != nil {
		return nil, err
	}
	m.writing = true
	m.wmu.Unlock()
	_, err = m.conn.Write(append(appendHeader(nil, typ, flags, id, len(prefix)+n), prefix...))
	chunk := make([]byte, min(n, streamChunk))
	sr := startStreamReader(r)
	defer sr.stop()
	reading := true
	for left := n; err == nil && left > 0; {
		k := min(left, len(chunk))
		if !reading {
			clear(chunk[:k])
		} else if got, rerr := sr.read(ctx, chunk[:k]); rerr != nil {
			reading = false
			if errors.Is(rerr, errAbandoned) {
				// The read goes on, into chunk: write from another.
				rerr, got = context.Cause(ctx), 0
				if ctx.Err() == nil {
					rerr = fmt.Errorf("the reader yielded nothing for %v", streamStall)
				}
				chunk = make([]byte, len(chunk))
			}
			clear(chunk[got:k])
			readErr = rerr
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				readErr = fmt.Errorf("%d bytes short: %w", left-got, io.ErrUnexpectedEOF)
			}
		}
		_, err = m.conn.Write(chunk[:k])
		left -= k
	}
	m.wmu.Lock()
	return readErr, m.endDirectLocked(err)
}

// streamStall is how long writeStream waits for its reader to fill one
// chunk when the caller's context allows longer.
const streamStall = time.Minute

// errAbandoned is streamReader.read's error for a read it stopped
// waiting for.
var errAbandoned = errors.New("read abandoned")

// A streamReader reads r on a goroutine of its own, one chunk at a time,
// so that a reader that stalls (a file on a hung mount, a pipe) is given
// up on when ctx ends or after streamStall. A read given up on goes on
// into its buffer until r returns, which the caller's close of r brings
// about; the goroutine then ends, as it does after stop.
type streamReader struct {
	want chan []byte
	got  chan streamRead
}

type streamRead struct {
	n   int
	err error
}

func startStreamReader(r io.Reader) *streamReader {
	sr := &streamReader{want: make(chan []byte), got: make(chan streamRead, 1)}
	go func() {
		for b := range sr.want {
			n, err := io.ReadFull(r, b)
			sr.got <- streamRead{n, err}
		}
	}()
	return sr
}

// read fills b from the reader. After an error, errAbandoned included, it
// must not be called again.
func (sr *streamReader) read(ctx context.Context, b []byte) (int, error) {
	sr.want <- b // the goroutine waits for it: the last read has returned
	stall := time.NewTimer(streamStall)
	defer stall.Stop()
	select {
	case res := <-sr.got:
		return res.n, res.err
	case <-ctx.Done():
	case <-stall.C:
	}
	return 0, errAbandoned
}

// stop ends the goroutine once its read, if one goes on, returns.
func (sr *streamReader) stop() { close(sr.want) }

func (m *Mux) writeLoop() {
	defer m.loops.Done()
	for {
		m.wmu.Lock()
		for m.writing || len(m.wbuf) == 0 && !m.wclosed {
			m.releaseIdleLocked()
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
		m.wspace.Broadcast() // a large frame waits for writes under way
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

// keepBuffer is the largest write buffer kept while the writer is idle. A
// big message grows the batch to its size, and a gateway that kept such
// buffers between bursts held ~22 MB after 1 MiB messages (1.4 GB for 64
// gateways); they are kept only while frames keep coming.
const keepBuffer = 64 << 10

// releaseIdleLocked drops the big buffers of an idle writer; wmu is held.
func (m *Mux) releaseIdleLocked() {
	if cap(m.wspare) > keepBuffer {
		m.wspare = nil
	}
	if len(m.wbuf) == 0 && cap(m.wbuf) > keepBuffer {
		m.wbuf = nil
	}
}
