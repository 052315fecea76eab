package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wasmnet/wasmnet/internal/pipe"
)

// stderrTail is how much of an agent's stderr a link keeps.
const stderrTail = 8 << 10

// startExec starts the exec=COMMAND transport: COMMAND is split into words as
// a POSIX shell would (quotes and backslashes, no expansions) and run without
// a shell, with sp.Env added to the environment and sp.Chdir, created if
// missing, as its directory. ctx bounds only the start.
func startExec(ctx context.Context, sp Spec) (*link, error) {
	argv, err := splitWords(sp.Value)
	if err != nil {
		return nil, fmt.Errorf("gateway: exec %q: %w", sp.Value, err)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("gateway: exec %q: empty command", sp.Value)
	}
	if sp.Chdir != "" {
		if err := os.MkdirAll(sp.Chdir, 0o755); err != nil {
			return nil, fmt.Errorf("gateway: exec %q: chdir: %w", sp.Value, err)
		}
	}
	env := append(os.Environ(), sp.Env...)
	l, err := startProcess(ctx, argv, env, sp.Chdir)
	if err != nil {
		return nil, fmt.Errorf("gateway: exec %q: %w", sp.Value, err)
	}
	return l, nil
}

// startProcess runs argv with its stdin and stdout as the link's conn and its
// stderr kept in the link's tail buffer. env nil means os.Environ(); dir ""
// means the current directory. The process gets its own process group, which
// kill ends as a whole, and on Linux it is killed if this process dies. ctx
// bounds only the start: the process outlives it.
func startProcess(ctx context.Context, argv []string, env []string, dir string) (*link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if cmd.Err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], cmd.Err)
	}
	cmd.Env, cmd.Dir = env, dir
	cmd.SysProcAttr = procAttr()
	// The stderr copier may be held open by grandchildren; do not let it hold wait.
	cmd.WaitDelay = 2 * time.Second
	stderr := newTailBuffer(stderrTail)
	cmd.Stderr = stderr

	// Our own pipes rather than StdinPipe/StdoutPipe: cmd.Wait closes those,
	// and wait may well run while the Gateway still reads the last bytes.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	pipe.Grow(inW)
	pipe.Grow(outR)
	cmd.Stdin, cmd.Stdout = inR, outW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}

	var reaped atomic.Bool
	w := newWaiter(func() error {
		defer reaped.Store(true)
		return cmd.Wait()
	})
	kill := func() error {
		if reaped.Load() {
			return nil
		}
		return killGroup(cmd.Process)
	}
	sc := &startCheckReader{r: outR, check: w.startCheck(argv[0], stderr)}
	conn := &procConn{
		r:     sc,
		w:     &startCheckWriter{w: inW, sc: sc},
		close: sync.OnceValue(func() error { return errors.Join(inW.Close(), outR.Close()) }),
	}
	return &link{conn: conn, wait: w.wait, kill: kill, stderr: stderr}, nil
}

// procConn is a process's stdout (to read) and stdin (to write). Close
// closes its stdin, so the agent sees EOF, and our end of its stdout, so a
// blocked Read returns, as net.Conn's Close does.
type procConn struct {
	r     io.Reader
	w     io.Writer
	close func() error
}

func (c *procConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *procConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *procConn) Close() error                { return c.close() }

// waiter runs a wait function once, however many callers wait.
type waiter struct {
	once sync.Once
	fn   func() error
	done chan struct{}
	err  error
}

func newWaiter(fn func() error) *waiter { return &waiter{fn: fn, done: make(chan struct{})} }

func (w *waiter) wait() error {
	w.once.Do(func() {
		w.err = w.fn()
		close(w.done)
	})
	<-w.done
	return w.err
}

// startCheck returns the check a startCheckReader runs when the agent closed
// its stdout without writing a byte: if the agent then exits with a failure
// within a short time, that is a failed start, reported with its stderr.
func (w *waiter) startCheck(what string, stderr *tailBuffer) func() error {
	return func() error {
		go w.wait()
		select {
		case <-w.done:
		case <-time.After(2 * time.Second):
			return io.EOF
		}
		if w.err == nil {
			return io.EOF
		}
		return &AgentStartError{What: what, Err: w.err, Stderr: stderr.String()}
	}
}

// startCheckReader turns an EOF before the first byte into the error check
// returns, so that the Gateway's first read says why the agent did not start.
type startCheckReader struct {
	r     io.Reader
	check func() error
	any   atomic.Bool // a byte was read: the agent started
}

func (s *startCheckReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.any.Store(true)
	}
	if err != nil && !s.any.Load() && agentGone(err) {
		return n, s.check()
	}
	return n, err
}

// agentGone reports whether err from the agent's pipes may mean that it
// exited: its stdout ended, its stdin broke, or our end of its stdout was
// closed under the read because a write to its stdin failed first (the
// client's hello to an agent that exited at once), or, for a socket
// (a shared agent's connection), was reset because the agent closed it
// with the client's hello unread.
func agentGone(err error) bool {
	return err == io.EOF || errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// startCheckWriter is the agent's stdin: a write that fails before the
// agent said anything asks the reader's check why, as a read would.
type startCheckWriter struct {
	w  io.Writer
	sc *startCheckReader
}

func (s *startCheckWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil && !s.sc.any.Load() && agentGone(err) {
		return n, s.sc.check()
	}
	return n, err
}

// ErrAgentStart is matched (errors.Is) by an *AgentStartError.
var ErrAgentStart = errors.New("agent failed to start")

// AgentStartError reports an agent that exited before it said anything.
type AgentStartError struct {
	What   string // the agent command or host
	Err    error  // how it ended, e.g. *exec.ExitError or *ssh.ExitError
	Stderr string // the tail of its stderr
}

func (e *AgentStartError) Error() string { return "gateway: " + e.describe() }

// describe is the error without the package's prefix, for a message that
// has one already.
func (e *AgentStartError) describe() string {
	msg := fmt.Sprintf("%s: agent failed to start: %v", e.What, e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += "; stderr: " + s
	}
	return msg
}

// startFailed is the error of a group's start of spec as gateway id: it
// names both once, and drops the prefix the cause repeats ("gateway: ",
// "gateway gw3: ").
func startFailed(spec, id string, err error) error {
	return &wrapError{msg: fmt.Sprintf("gateway: spec %s (%s): %v", spec, id, withoutStartPrefix(id, err)), err: err}
}

// withoutStartPrefix is err without the prefix a start's error begins with
// ("gateway: ", "gateway gw3: "), for a message that names the gateway
// already.
func withoutStartPrefix(id string, err error) error {
	msg := err.Error()
	trimmed := strings.TrimPrefix(strings.TrimPrefix(msg, "gateway: "), "gateway "+id+": ")
	if trimmed == msg {
		return err
	}
	return &wrapError{msg: trimmed, err: err}
}

// wrapError has a message of its own but unwraps to err, so that a cause
// is matched by errors.Is and As without its text repeated.
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }

func (e *AgentStartError) Unwrap() []error { return []error{ErrAgentStart, e.Err} }

// splitWords splits s into words as a POSIX shell does, without expansions:
// blanks separate words; single quotes keep everything up to the next single
// quote; double quotes keep everything but a backslash before one of $ ` " \
// or newline; elsewhere a backslash keeps the next character.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			if s[i] != '\n' {
				cur.WriteByte(s[i])
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			j, err := doubleQuoted(s[i+1:], &cur)
			if err != nil {
				return nil, err
			}
			i += j + 1
		default:
			cur.WriteByte(c)
		}
		inWord = true
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// doubleQuoted copies the inside of a double-quoted string that s starts
// with to b and returns the index of the closing quote in s.
func doubleQuoted(s string, b *strings.Builder) (int, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return i, nil
		case '\\':
			if i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
				i++
				if s[i] != '\n' {
					b.WriteByte(s[i])
				}
				continue
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return 0, errors.New("unterminated double quote")
}
