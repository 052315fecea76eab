package host

import (
	"io"
	"time"

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
	wire.KindCommand: "command", wire.KindRSync: "rsync", wire.KindCache: "cache",
}

// traceRequest writes one served request: its kind, for an exec the module
// and channel, how long it took and its error.
func (a *agent) traceRequest(kind uint8, body []byte, start time.Time, err *error) {
	tr := a.cfg.trace
	if !tr.On() {
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
			tr.Printf("request exec of module %.12s on channel %d: %v in %v", req.Module, req.Channel, errText(*err), time.Since(start).Round(time.Microsecond))
			return
		}
	case wire.KindDial:
		var req wire.DialRequest
		if channel.UnmarshalInto(body, &req) == nil {
			what += " " + req.Network + " " + req.Address
		}
	}
	tr.Printf("request %s (%d bytes): %v in %v", what, len(body), errText(*err), time.Since(start).Round(time.Microsecond))
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
