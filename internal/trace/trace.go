// Package trace writes wasmnet's debug trace, what execnet's EXECNET_DEBUG
// writes: gateway lifecycle, requests, channel opens and closes, one line
// per event, each naming its process.
//
// WASMNET_DEBUG (or the CLI's --debug) chooses where: "1" or "stderr"
// writes to stderr; any other value is a file that every process of the
// run (the client and its local agents, which inherit the variable) appends
// to. Unset, "" or "0" traces nothing.
package trace

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// EnvVar is the environment variable that turns tracing on.
const EnvVar = "WASMNET_DEBUG"

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
	case "1", "true", "stderr":
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

// Printf writes one line: time, process, then the formatted event.
func (t *Tracer) Printf(format string, args ...any) {
	if t == nil {
		return
	}
	line := fmt.Sprintf("%s %s ", time.Now().Format("15:04:05.000000"), t.prefix) + fmt.Sprintf(format, args...) + "\n"
	t.mu.Lock()
	defer t.mu.Unlock()
	io.WriteString(t.w, line)
}

// On reports whether t traces anything.
func (t *Tracer) On() bool { return t != nil }
