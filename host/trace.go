package host

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/trace"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// WithTrace writes the agent's debug trace, a line per request with what
// it asked and how it ended, to w (WASMNET_DEBUG; see gateway.WithTrace).
// The default is none.
func (c Config) WithTrace(w io.Writer) Config { c.trace = trace.New(w, "agent"); return c }

var kindNames = map[uint8]string{
	wire.KindExec: "exec", wire.KindModule: "module upload", wire.KindStatus: "status",
	wire.KindTerminate: "terminate", wire.KindOutput: "output", wire.KindDial: "dial",
	wire.KindCommand: "command", wire.KindRSync: "rsync", wire.KindTraceOn: "trace on",
	wire.KindCache: "cache",
}

// traceRequest writes one served request: its kind, for an exec the module
// and channel, how long it took and its error.
func (a *agent) traceRequest(kind uint8, body []byte, start time.Time, err *error) {
	if !a.cfg.trace.On() && !a.relay.on.Load() {
		return
	}
	what := kindNames[kind]
	if what == "" {
		what = "unknown kind"
	}
	switch kind {
	case wire.KindExec:
		var req wire.ExecRequest
		if channel.UnmarshalInto(body, &req) == nil {
			a.tracef("request exec of module %.12s on channel %d: %v in %v", req.Module, req.Channel, errText(*err), time.Since(start).Round(time.Microsecond))
			return
		}
	case wire.KindDial:
		var req wire.DialRequest
		if channel.UnmarshalInto(body, &req) == nil {
			what += " " + req.Network + " " + req.Address
		}
	}
	a.tracef("request %s (%d bytes): %v in %v", what, len(body), errText(*err), time.Since(start).Round(time.Microsecond))
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// tracef writes one trace line to the agent's own trace, if any, and to
// the client, if it asked for the lines.
func (a *agent) tracef(format string, args ...any) {
	a.cfg.trace.Printf(format, args...)
	if a.relay.on.Load() {
		a.relay.queue(fmt.Sprintf(format, args...))
	}
}

// traceRelay sends an agent's trace lines to its client (KindTraceOn,
// WASMNET_DEBUG=2). Lines wait in a bounded queue for one goroutine that
// sends them, so that tracing never blocks what it traces; a client that
// reads too slowly loses lines, and is told how many. Serve owns the
// goroutine: finish sends what is left before the connection closes, and
// wait sees the goroutine gone after it closed.
type traceRelay struct {
	once    sync.Once
	on      atomic.Bool
	lines   chan string
	dropped atomic.Int64
	stop    chan struct{} // closed by finish
	done    chan struct{} // closed when run returns
}

// relayQueue bounds the lines waiting to be sent to the client.
const relayQueue = 256

func (r *traceRelay) queue(msg string) {
	if len(msg) > trace.MaxRelayed {
		msg = msg[:trace.MaxRelayed]
	}
	select {
	case r.lines <- msg:
	default:
		r.dropped.Add(1)
	}
}

// startRelay turns the relay on, once.
func (a *agent) startRelay() {
	a.relay.once.Do(func() {
		r := &a.relay
		r.lines = make(chan string, relayQueue)
		r.stop, r.done = make(chan struct{}), make(chan struct{})
		r.on.Store(true)
		go r.run(a.mux)
		a.tracef("agent pid %d relays its trace to this client", os.Getpid())
	})
}

func (r *traceRelay) run(m *channel.Mux) {
	defer close(r.done)
	for {
		select {
		case msg := <-r.lines:
			r.send(m, msg)
		case <-r.stop:
			for {
				select {
				case msg := <-r.lines:
					r.send(m, msg)
				default:
					return
				}
			}
		case <-m.Done():
			return
		}
	}
}

func (r *traceRelay) send(m *channel.Mux, msg string) {
	if n := r.dropped.Swap(0); n > 0 {
		msg = fmt.Sprintf("(%d trace lines dropped before this one) %s", n, msg)
	}
	if body, err := msgpack.Marshal(&wire.TraceLine{PID: os.Getpid(), Msg: msg}); err == nil {
		m.Notify(wire.KindTrace, body)
	}
}

// finish sends the lines still queued, for at most limit: a client that
// reads nothing must not hold the agent's exit.
func (r *traceRelay) finish(limit time.Duration) {
	if !r.on.Load() {
		return
	}
	close(r.stop)
	select {
	case <-r.done:
	case <-time.After(limit):
	}
}

// wait returns once the relay's goroutine has, which it does when the
// connection has closed.
func (r *traceRelay) wait() {
	if r.on.Load() {
		<-r.done
	}
}
