package host

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// outputWriter receives a guest's stdout or stderr. It forwards each write
// to the client as an Output notice (never on the protocol's data path) and
// keeps the last bytes for error messages.
type outputWriter struct {
	ctx     context.Context // ends with the execution: no piece is sent after
	mux     *channel.Mux
	channel uint32
	stream  uint8
	forward bool
	wrote   atomic.Bool // the guest wrote something

	mu   sync.Mutex
	keep int
	buf  []byte
}

func newOutputWriter(ctx context.Context, m *channel.Mux, ch uint32, stream uint8, forward bool, keep int) *outputWriter {
	return &outputWriter{ctx: ctx, mux: m, channel: ch, stream: stream, forward: forward, keep: keep}
}

func (w *outputWriter) Write(p []byte) (int, error) {
	// One fd_write may carry many iovecs of many pieces each, and sending
	// them all to a slow client can take far longer than the execution's
	// time limit, which is checked only when the guest runs its own code.
	if err := w.stopped(); err != nil {
		return 0, err
	}
	if len(p) > 0 {
		w.wrote.Store(true)
	}
	if w.keep > 0 {
		w.mu.Lock()
		w.buf = append(w.buf, p...)
		if over := len(w.buf) - w.keep; over > 0 {
			w.buf = append(w.buf[:0], w.buf[over:]...)
		}
		w.mu.Unlock()
	}
	if w.forward {
		// One notice per piece: a guest's 65 MiB write must not make a
		// frame over the client's limit, which would end the connection.
		piece := min(maxOutputPiece, w.mux.Peer().MaxFrame-outputOverhead)
		for rest := p; len(rest) > 0; {
			if err := w.stopped(); err != nil {
				return len(p) - len(rest), err
			}
			n := min(len(rest), piece)
			body, err := msgpack.Marshal(&wire.Output{Channel: w.channel, Stream: w.stream, Data: rest[:n]})
			if err == nil {
				// A client gone away is noticed by the channel; the
				// guest's write still succeeds. One that stops reading
				// holds the guest no longer than its execution lasts.
				w.mux.NotifyContext(w.ctx, wire.KindOutput, body)
			}
			rest = rest[n:]
		}
	}
	return len(p), nil
}

// maxOutputPiece is the most guest output one notice carries; outputOverhead
// bounds what the rest of an Output body takes. A notice this small is
// queued for the connection's writer, a wait that ends with the execution
// (NotifyContext); a larger one would be written on the guest's goroutine,
// and a client that stops reading would hold the guest in that write past
// its time limit.
const (
	maxOutputPiece = 32 << 10
	outputOverhead = 64
)

// stopped says why the execution that writes has ended, if it has.
func (w *outputWriter) stopped() error {
	if err := w.ctx.Err(); err != nil {
		return fmt.Errorf("host: output after the execution ended: %w", context.Cause(w.ctx))
	}
	return nil
}

func (w *outputWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
