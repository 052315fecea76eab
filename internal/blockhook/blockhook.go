// Package blockhook lets a test learn that goroutines have reached a
// blocking point, instead of sleeping and hoping they have.
//
// A blocking call that supports it looks for a Counter in its context and
// counts itself in it while it waits; the test gives a context carrying a
// Counter and waits for the count (internal/testutil.WaitBlocked). Calls
// given a context without a Counter pay one context lookup, and only when
// they are about to block. Nothing outside the module can reach it: it is
// internal, for tests, and carries no state of its own.
package blockhook

import (
	"context"
	"sync/atomic"
)

// A Counter counts the goroutines blocked with it in their context.
type Counter struct{ n atomic.Int64 }

// Blocked returns how many goroutines wait with c now.
func (c *Counter) Blocked() int64 { return c.n.Load() }

type key struct{}

// With returns a copy of ctx carrying c.
func With(ctx context.Context, c *Counter) context.Context {
	return context.WithValue(ctx, key{}, c)
}

// Enter counts the caller as blocked in the Counter ctx carries, if any,
// and returns the function that stops counting it.
func Enter(ctx context.Context) (leave func()) {
	c, _ := ctx.Value(key{}).(*Counter)
	if c == nil {
		return nop
	}
	c.n.Add(1)
	return func() { c.n.Add(-1) }
}

func nop() {}
