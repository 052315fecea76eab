package host

import (
	"context"
	"fmt"
)

// ctxMutex is a mutex whose waiters can give up: a compilation waits for
// the one before it, which may be another tenant's and long, and a
// client that leaves meanwhile should not leave its compilation queued.
// The zero value is not usable: make one with newCtxMutex.
type ctxMutex struct{ ch chan struct{} }

func newCtxMutex() ctxMutex { return ctxMutex{ch: make(chan struct{}, 1)} }

func (m ctxMutex) Lock() { m.ch <- struct{}{} }

func (m ctxMutex) Unlock() { <-m.ch }

// LockContext locks m, or returns ctx's error if ctx ends first.
func (m ctxMutex) LockContext(ctx context.Context) error {
	select {
	case m.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("host: waiting for another compilation: %w", context.Cause(ctx))
	}
}
