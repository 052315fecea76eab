// Package trace writes wasmnet's debug trace, what execnet's EXECNET_DEBUG
// writes: gateway lifecycle, requests, channel opens and closes, one line
// per event, each naming its process.
//
// WASMNET_DEBUG (or the CLI's --debug) chooses where: "1" or "stderr"
// writes to stderr; "2" writes to stderr too and has every agent send its
// lines to the client, which writes them there tagged with the gateway
// (execnet's EXECNET_DEBUG=2); any other value is a file that every process
// of the run (the client and its local agents, which inherit the variable)
// appends to. Unset, "" or "0" traces nothing.
package trace

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// EnvVar is the environment variable that turns tracing on.
const EnvVar = "WASMNET_DEBUG"

// Relay is the value of EnvVar that has agents send their trace lines to
// the client. An agent that inherits it writes no lines of its own: they
// reach the client's stderr through the connection.
const Relay = "2"

// A Tracer writes trace lines. A nil *Tracer traces nothing, so callers
// need no checks. It is safe for concurrent use.
type Tracer struct {
	mu     sync.Mutex // serialises whole lines
	w      io.Writer
	prefix string // "client[1234]"
}

// New returns a Tracer writing lines tagged with role and this process's
// id to w, or nil when w is nil.
func New(w io.Writer, role string) *Tracer {
	if w == nil {
		return nil
	}
	return &Tracer{w: w, prefix: role + "[" + strconv.Itoa(os.Getpid()) + "]"}
}

// Open resolves a WASMNET_DEBUG value to a writer: nil for "", "0" or
// "false"; stderr for "1", "true" or "stderr"; else the file it names,
// opened for appending and created if missing.
func Open(value string) (io.Writer, error) {
	switch value {
	case "", "0", "false":
		return nil, nil
	case "1", "true", "stderr", Relay:
		return os.Stderr, nil
	}
	f, err := os.OpenFile(value, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("trace: %s=%s: %w", EnvVar, value, err)
	}
	return f, nil
}

// fromEnv is the writer WASMNET_DEBUG names, opened once per process.
var fromEnv = sync.OnceValues(func() (io.Writer, error) { return Open(os.Getenv(EnvVar)) })

// FromEnv returns a Tracer for role that writes where WASMNET_DEBUG says,
// or nil when it is unset. An unusable value is reported once on stderr and
// then ignored: tracing must not stop the program it traces.
func FromEnv(role string) *Tracer {
	w, err := fromEnv()
	if err != nil {
		reportOnce.Do(func() { fmt.Fprintln(os.Stderr, "wasmnet:", err) })
	}
	return New(w, role)
}

var reportOnce sync.Once

// Printf writes one line: time, process, then the formatted event with
// its control characters escaped, as the event often quotes a peer's text
// (a guest's error, an agent's hello) that may hold terminal escapes.
func (t *Tracer) Printf(format string, args ...any) {
	if t == nil {
		return
	}
	line := fmt.Sprintf("%s %s ", time.Now().Format("15:04:05.000000"), t.prefix) + escapeControls(fmt.Sprintf(format, args...)) + "\n"
	t.mu.Lock()
	defer t.mu.Unlock()
	io.WriteString(t.w, line)
}

// On reports whether t traces anything.
func (t *Tracer) On() bool { return t != nil }

// MaxRelayed is the longest message of a relayed line; the rest is cut.
const MaxRelayed = 4 << 10

// Relayed writes one line that another process traced and sent here:
// time, tag (such as "agent[4321]@gw0"), then msg, cut to MaxRelayed
// bytes and with control characters escaped, as the text of a peer may
// hold anything.
func (t *Tracer) Relayed(tag, msg string) {
	if t == nil {
		return
	}
	line := time.Now().Format("15:04:05.000000") + " " + escape(tag) + " " + escape(msg) + "\n"
	t.mu.Lock()
	defer t.mu.Unlock()
	io.WriteString(t.w, line)
}

// escape cuts s to MaxRelayed bytes and writes its control characters and
// invalid bytes as Go escapes, so that it stays one line and moves no
// terminal.
func escape(s string) string {
	if len(s) > MaxRelayed {
		s = s[:MaxRelayed] + "..."
	}
	return escapeControls(s)
}

// escapeControls writes the control characters and invalid bytes of s as
// Go escapes, so that it stays one line and moves no terminal.
func escapeControls(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", s[0])
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029':
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}
