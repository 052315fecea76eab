package gateway

import (
	"io"
	"sync"
)

// A link is a started agent's protocol stream and the means to end it. Every
// transport (popen, ssh, socket, exec, via) produces one; the Gateway runs
// the channel protocol over conn and never learns how the agent was reached.
type link struct {
	conn io.ReadWriteCloser
	// wait blocks until the agent (process, SSH session, socket) has ended and
	// its resources are released.
	wait func() error
	// kill ends the agent at once; wait still has to be called to reap it.
	kill func() error
	// stderr keeps the tail of what the agent wrote to its stderr, so that a
	// failed start can say why. It may be nil.
	stderr *tailBuffer
	// boot says how an ssh bootstrap started the agent; nil for transports
	// that do not bootstrap.
	boot *bootReport
}

// tailBuffer is an io.Writer that keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// ReadFrom copies r into t through a small buffer. os/exec's copier of a
// process's stderr calls it, and else would hold a 32 KiB buffer per
// gateway for the life of its agent, for a stream that is mostly silent.
func (t *tailBuffer) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, 1<<10)
	var n int64
	for {
		m, err := r.Read(buf)
		if m > 0 {
			t.Write(buf[:m])
			n += int64(m)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (t *tailBuffer) String() string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
