package channel

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Requests and notifications: Call, Notify, and serving the peer's.

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

type response struct {
	body []byte
	err  error
}

// Call sends a request of the given kind and waits for the peer's answer.
// An error the peer's handler returned comes back as a *RemoteError.
//
// If ctx is already done, Call returns ctx.Err() without sending. If ctx
// ends while the answer is outstanding, Call returns ctx.Err() and forgets
// the request: its answer, when it comes, is dropped (PROTOCOL.md).
func (m *Mux) Call(ctx context.Context, kind uint8, body []byte) ([]byte, error) {
	return m.call(ctx, func(id uint32) error {
		return m.writeFrameParts(ctx, frameRequest, kind, id, nil, body, false)
	})
}

// CallStream is Call with a body of head followed by the n bytes r yields,
// written as they are read, so that the caller never holds them: an
// upload of a module from its file. The frame is written whole whatever r
// does: past n bytes r is not read, and if r ends or fails before, the
// rest is zeros and CallStream returns that error once the peer answered,
// for the peer to see a body that is not the one promised (a module whose
// bytes do not hash to its sum).
func (m *Mux) CallStream(ctx context.Context, kind uint8, head []byte, r io.Reader, n int) ([]byte, error) {
	var readErr error
	out, err := m.call(ctx, func(id uint32) error {
		var err error
		readErr, err = m.writeStream(ctx, frameRequest, kind, id, head, r, n)
		return err
	})
	if readErr != nil {
		return nil, fmt.Errorf("channel: request body: %w", readErr)
	}
	return out, err
}

// call registers a request, has write send it under its id and waits for
// the answer.
func (m *Mux) call(ctx context.Context, write func(id uint32) error) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
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
	if err := write(id); err != nil {
		m.forgetCall(id)
		return nil, err
	}
	select {
	case r := <-reply:
		return r.body, r.err
	case <-ctx.Done():
		m.forgetCall(id)
		return nil, ctx.Err()
	}
}

// forgetCall drops a pending call, so that its answer is dropped on arrival.
func (m *Mux) forgetCall(id uint32) {
	m.mu.Lock()
	delete(m.calls, id)
	m.mu.Unlock()
}

// Notify sends a request that wants no answer.
func (m *Mux) Notify(kind uint8, body []byte) error {
	return m.writeFrame(frameRequest, kind, 0, body, false)
}

// NotifyContext is Notify whose wait for room in the connection's write
// queue ends with ctx, the notice unsent: a peer that reads nothing holds
// it no longer than ctx lasts.
func (m *Mux) NotifyContext(ctx context.Context, kind uint8, body []byte) error {
	return m.writeFrameParts(ctx, frameRequest, kind, 0, nil, body, false)
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
	if err := m.startServing(len(body)); err != nil {
		// The refusal is a control frame: a peer that floods requests and
		// reads nothing is cut off when those pass maxQueued.
		m.writeFrame(frameResponse, flagError, id, cutErrorText(err.Error()), true)
		return
	}
	// The answer is written from the handler's goroutine, never the read
	// loop, so it may wait for queue space and may be written directly.
	m.handlers.add()
	go func() {
		defer m.handlers.done()
		defer m.doneServing(len(body))
		var out []byte
		err := errors.New("channel: this side serves no requests")
		if h != nil {
			out, err = h.ServeRequest(m.ctx, m, kind, body)
		}
		if err == nil {
			err = m.writeFrame(frameResponse, 0, id, out, false)
			var tooBig *FrameSizeError
			if !errors.As(err, &tooBig) {
				return
			}
			err = fmt.Errorf("channel: the answer to request kind %d: %w", kind, err)
		}
		m.writeFrame(frameResponse, flagError, id, cutErrorText(err.Error()), false)
	}()
}

// Requests being served are bounded in number and in the bytes of their
// bodies: each holds a goroutine and its body until its answer is written,
// which a peer that reads nothing never lets happen.
const maxServing = 1024

// maxServingBytes returns the bound on the bodies of requests being served:
// room for a few of the largest.
func (m *Mux) maxServingBytes() int { return 4 * m.cfg.MaxFrame }

// startServing counts a request of n bytes as served, or says why it may
// not be.
func (m *Mux) startServing(n int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.serving >= maxServing || m.servingBytes+n > m.maxServingBytes() {
		return fmt.Errorf("%w: %d requests (%d bytes) of this peer are being served, the limit is %d requests or %d bytes",
			ErrTooManyRequests, m.serving, m.servingBytes, maxServing, m.maxServingBytes())
	}
	m.serving++
	m.servingBytes += n
	return nil
}

func (m *Mux) doneServing(n int) {
	m.mu.Lock()
	m.serving--
	m.servingBytes -= n
	m.mu.Unlock()
}
