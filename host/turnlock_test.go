package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
)

// waiters returns how many waiters l has, per tenant.
func (l *turnLock) waiters(tenant string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiting[tenant])
}

// TestSecurityCompileTurnsByTenant: a tenant that queued many uploads
// before another tenant's one does not hold that one behind all of its
// own: the other tenant's module compiles after at most one of them.
func TestSecurityCompileTurnsByTenant(t *testing.T) {
	ctx := context.Background()
	s := memoryStore(t)
	s.compileMu.Lock() // a long compilation under way

	var (
		turns []string // under the lock's mu
		wg    sync.WaitGroup
	)
	s.compileMu.onGrant = func(tenant string) {
		// Not the store's own turns ("") to keep the modules' files.
		if tenant != "" {
			turns = append(turns, tenant)
		}
	}
	upload := func(tenant string, n int) {
		b := variant(n, 0)
		h := sha256.Sum256(b)
		wg.Go(func() {
			if err := s.add(ctx, tenant, hex.EncodeToString(h[:]), b); err != nil {
				t.Errorf("%s's upload %d: %v", tenant, n, err)
			}
		})
	}
	const queued = 4
	for n := range queued {
		upload("a", n)
		// One at a time, so that a's queue has a known order.
		testutil.WaitFor(t, "a's upload waits", func() bool { return s.compileMu.waiters("a") == n+1 })
	}
	upload("b", 0)
	testutil.WaitFor(t, "b's upload waits", func() bool { return s.compileMu.waiters("b") == 1 })
	s.compileMu.Unlock()
	wg.Wait()

	s.compileMu.mu.Lock()
	defer s.compileMu.mu.Unlock()
	want := []string{"a", "b", "a", "a", "a"}
	if !slices.Equal(turns, want) {
		t.Errorf("the compile lock went to %v, want %v: b's one module waits behind all of a's", turns, want)
	}
}

// TestTurnLockWaiterGivesUp: a waiter whose ctx ends leaves the queue and
// the lock goes to the next; one handed the lock as its ctx ends passes
// it on.
func TestTurnLockWaiterGivesUp(t *testing.T) {
	var l turnLock
	l.Lock()
	gone, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- l.LockContext(gone, "a") }()
	testutil.WaitFor(t, "a waits", func() bool { return l.waiters("a") == 1 })
	got := make(chan struct{})
	go func() {
		if err := l.LockContext(context.Background(), "b"); err == nil {
			close(got)
		}
	}()
	testutil.WaitFor(t, "b waits", func() bool { return l.waiters("b") == 1 })
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("a gave up with %v, want its cancellation", err)
	}
	if n := l.waiters("a"); n != 0 {
		t.Fatalf("a's waiter is still queued (%d)", n)
	}
	l.Unlock()
	select {
	case <-got:
	case <-time.After(testutil.WaitTimeout): // a hang, not a goal
		t.Fatal("the lock did not pass to b after a gave up")
	}
	l.Unlock()
	if err := l.LockContext(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	l.Unlock()
}

// TestTurnLockExcludes: tenants that lock, give up and unlock at once,
// many times over, never hold the lock together and leave it free.
func TestTurnLockExcludes(t *testing.T) {
	var (
		l       turnLock
		holders atomic.Int32
		wg      sync.WaitGroup
	)
	for g := range 12 {
		tenant := string(rune('a' + g%3))
		wg.Go(func() {
			for i := range 300 {
				ctx, cancel := context.WithCancel(context.Background())
				if i%3 == 0 {
					cancel() // some give up while they wait, or as they are handed the lock
				}
				if err := l.LockContext(ctx, tenant); err == nil {
					if n := holders.Add(1); n != 1 {
						t.Errorf("%d holders at once", n)
					}
					holders.Add(-1)
					l.Unlock()
				}
				cancel()
			}
		})
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held || len(l.turns) != 0 || len(l.waiting) != 0 {
		t.Fatalf("the lock is left held %v with turns %v", l.held, l.turns)
	}
}
