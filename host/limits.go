package host

import (
	"fmt"
	"time"
)

// An ExecutionLimit bounds how many executions run at once across every
// agent whose Config carries it: `wasmnet serve` gives one to all the
// agents it runs, so that many clients together cannot start more guests
// than the machine was sized for. It is safe for concurrent use.
type ExecutionLimit struct {
	slots chan struct{}
}

// NewExecutionLimit returns a limit of n concurrent executions (n >= 1).
func NewExecutionLimit(n int) *ExecutionLimit {
	return &ExecutionLimit{slots: make(chan struct{}, max(n, 1))}
}

// acquire takes a slot, or says why none is free; a nil limit always has one.
func (l *ExecutionLimit) acquire() error {
	if l == nil {
		return nil
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
		return fmt.Errorf("exec: the server already runs its limit of %d executions; try again when one ends", cap(l.slots))
	}
}

func (l *ExecutionLimit) release() {
	if l != nil {
		<-l.slots
	}
}

// WithExecutionLimit makes executions share l: an execution that would
// exceed it is refused (RemoteExec returns the error) rather than queued.
// Default: no limit beyond memory.
func (c Config) WithExecutionLimit(l *ExecutionLimit) Config { c.execLimit = l; return c }

// WithHelloTimeout bounds how long a new connection may take to send its
// hello, so that a peer which connects and stays silent does not hold an
// agent forever. Default: 30 s.
func (c Config) WithHelloTimeout(d time.Duration) Config { c.helloTimeout = d; return c }
