package gateway

import (
	"context"
	"sync"
)

// onceEach runs one action per key at a time and remembers which keys
// succeeded, so that concurrent callers asking for the same key share one
// run: one module upload per gateway and module, one agent bootstrap per
// host and agent build.
type onceEach struct {
	mu       sync.Mutex
	inflight map[string]*onceCall
	done     map[string]bool
}

type onceCall struct {
	finished chan struct{}
	err      error
}

// do runs fn for key unless it already succeeded (and again is false) or
// another caller is running it, in which case do waits for that run and
// returns its error. A run that failed is not remembered: the next caller
// tries again. ctx bounds the wait, not fn.
func (o *onceEach) do(ctx context.Context, key string, again bool, fn func() error) error {
	o.mu.Lock()
	if c := o.inflight[key]; c != nil {
		o.mu.Unlock()
		select {
		case <-c.finished:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if o.done[key] && !again {
		o.mu.Unlock()
		return nil
	}
	if o.inflight == nil {
		o.inflight, o.done = map[string]*onceCall{}, map[string]bool{}
	}
	c := &onceCall{finished: make(chan struct{})}
	o.inflight[key] = c
	o.mu.Unlock()

	c.err = fn()
	o.mu.Lock()
	delete(o.inflight, key)
	o.done[key] = c.err == nil
	o.mu.Unlock()
	close(c.finished)
	return c.err
}
