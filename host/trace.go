package host

import (
	"io"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/trace"
)

// WithTrace writes the agent's debug trace, a line per request with what
// it asked and how it ended, to w (WASMNET_DEBUG; see gateway.WithTrace).
// The default is none.
func (c Config) WithTrace(w io.Writer) Config { c.trace = trace.New(w, "agent"); return c }

var kindNames = map[uint8]string{
	channel.KindExec: "exec", channel.KindModule: "module upload", channel.KindStatus: "status",
	channel.KindTerminate: "terminate", channel.KindOutput: "output", channel.KindDial: "dial",
	channel.KindCommand: "command", channel.KindRSync: "rsync",
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
	case channel.KindExec:
		var req channel.ExecRequest
		if channel.UnmarshalInto(body, &req) == nil {
			tr.Printf("request exec of module %.12s on channel %d: %v in %v", req.Module, req.Channel, errText(*err), time.Since(start).Round(time.Microsecond))
			return
		}
	case channel.KindDial:
		var req channel.DialRequest
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
