package host

import (
	"context"
	"fmt"
	"sync"
)

// turnLock is the compile lock of a module store, shared by every tenant
// of the engine. A compilation may take tens of seconds within the bounds
// on a module's shape, and a tenant may queue hundreds of them (one per
// request it has in flight): with one queue, a tenant that queued first
// would hold every other tenant's first compilation behind all of its own.
// So waiters are served by tenant in turn, the oldest waiter of each: a
// tenant waits at most for one compilation of each other tenant that
// waits too. Waiters can give up: a client that leaves should not leave
// its compilation queued.
//
// The zero value is an unlocked lock.
type turnLock struct {
	mu      sync.Mutex
	held    bool
	waiting map[string][]*turnWaiter // per tenant, oldest first
	turns   []string                 // tenants with waiters, next turn first
	// onGrant, if set, is called under mu with the tenant a waiter of
	// which is handed the lock: tests see the order of turns, which the
	// order in which callers return does not tell.
	onGrant func(tenant string)
}

type turnWaiter struct {
	ready   chan struct{} // closed when the lock is handed to this waiter
	granted bool          // set under mu when ready is closed
}

// Lock locks l for tenant "", the user who owns the process, for work of
// the store itself (pruning, keeping files).
func (l *turnLock) Lock() { l.LockContext(context.Background(), "") }

// LockContext locks l for tenant, or returns ctx's error if ctx ends
// first.
func (l *turnLock) LockContext(ctx context.Context, tenant string) error {
	l.mu.Lock()
	if !l.held && len(l.turns) == 0 {
		l.held = true
		l.mu.Unlock()
		return nil
	}
	w := &turnWaiter{ready: make(chan struct{})}
	if l.waiting == nil {
		l.waiting = map[string][]*turnWaiter{}
	}
	if len(l.waiting[tenant]) == 0 {
		l.turns = append(l.turns, tenant)
	}
	l.waiting[tenant] = append(l.waiting[tenant], w)
	l.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	if w.granted {
		// Handed over as ctx ended: pass it on.
		l.mu.Unlock()
		l.Unlock()
	} else {
		l.dropLocked(tenant, w)
		l.mu.Unlock()
	}
	return fmt.Errorf("host: waiting for another compilation: %w", context.Cause(ctx))
}

// Unlock hands l to the oldest waiter of the tenant whose turn it is, or
// unlocks it.
func (l *turnLock) Unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		panic("host: unlock of an unlocked compile lock")
	}
	if len(l.turns) == 0 {
		l.held = false
		return
	}
	tenant := l.turns[0]
	l.turns = l.turns[1:]
	queue := l.waiting[tenant]
	w := queue[0]
	if queue = queue[1:]; len(queue) > 0 {
		l.waiting[tenant] = queue
		l.turns = append(l.turns, tenant) // its next waiter waits for the others' turns
	} else {
		delete(l.waiting, tenant)
	}
	w.granted = true
	if l.onGrant != nil {
		l.onGrant(tenant)
	}
	close(w.ready)
}

// dropLocked removes w, which gave up, from tenant's waiters.
func (l *turnLock) dropLocked(tenant string, w *turnWaiter) {
	queue := l.waiting[tenant]
	for i, q := range queue {
		if q == w {
			queue = append(queue[:i:i], queue[i+1:]...)
			break
		}
	}
	if len(queue) > 0 {
		l.waiting[tenant] = queue
		return
	}
	delete(l.waiting, tenant)
	for i, t := range l.turns {
		if t == tenant {
			l.turns = append(l.turns[:i:i], l.turns[i+1:]...)
			break
		}
	}
}

// tenantKey is the context key of the tenant a request is served for.
type tenantKey struct{}

// withTenant returns ctx carrying tenant, for the compile lock's turns.
func withTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// tenantOf returns the tenant ctx carries, "" if none.
func tenantOf(ctx context.Context) string {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t
}
