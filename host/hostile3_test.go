package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// Hostile passes over the store's one-compilation-per-tenant wait
// (loadTurn) and the compile lock's cancellation.

// TestHostile3LeaderCancelledWhileOthersWait: the connection compiling a
// module for its tenant goes away while the tenant's other connections
// wait for that compilation. They must not hang or inherit its
// cancellation: one of them compiles it, and all of them get it.
func TestHostile3LeaderCancelledWhileOthersWait(t *testing.T) {
	e := newEngine(t, NewConfig().WithoutCompilationCache())
	s := e.store
	sum := sha256.Sum256(growInitWasm)
	hexSum := hex.EncodeToString(sum[:])
	s.compileMu.Lock() // the leader waits in its compilation
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() { leaderErr <- s.addFrom(leaderCtx, "T0", hexSum, growInitWasm, true) }()
	testutil.WaitFor(t, "the leader waiting for the compile lock", func() bool { return s.compileMu.waiters("T0") == 1 })
	const waiters = 4
	errs := make(chan error, waiters)
	for range waiters {
		go func() { errs <- s.addFrom(context.Background(), "T0", hexSum, growInitWasm, true) }()
	}
	testutil.WaitFor(t, "the other uploads waiting for the leader", func() bool {
		return testutil.GoroutinesIn("host.(*moduleStore).loadTurn") == waiters
	})
	cancelLeader()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled leader: %v, want context.Canceled", err)
	}
	s.compileMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout) // a hang, not a goal
	defer cancel()
	for i := range waiters {
		select {
		case err := <-errs:
			if err != nil {
				t.Errorf("upload %d after its leader was cancelled: %v", i, err)
			}
		case <-ctx.Done():
			t.Fatalf("uploads hang after their leader was cancelled (%d of %d returned)", i, waiters)
		}
	}
	if m := s.lookup(context.Background(), "T0", hexSum); m == nil {
		t.Error("T0 sent the module and the store does not run it for it")
	} else {
		s.release(m)
	}
	if n := s.compilations.Load(); n != 1 {
		t.Errorf("%d compilations after the leader's cancellation, want 1", n)
	}
}

// TestHostile3FailedCompileSharedWithWaiters: a module that cannot be
// compiled gives its verdict to every connection that waited for it, at
// once, and to another tenant that sends it; a tenant that never sent it
// learns nothing from it.
func TestHostile3FailedCompileSharedWithWaiters(t *testing.T) {
	e := newEngine(t, NewConfig().WithoutCompilationCache())
	s := e.store
	// Valid wasm, refused after compiling: it imports what no host has.
	bad := testwasm.Wat(t, `(module (import "nosuchhost" "f" (func)) (memory (export "memory") 1) (func (export "_start")))`)
	sum := sha256.Sum256(bad)
	hexSum := hex.EncodeToString(sum[:])
	s.compileMu.Lock()
	const uploads = 6
	errs := make(chan error, uploads)
	for range uploads {
		go func() { errs <- s.addFrom(context.Background(), "T0", hexSum, bad, true) }()
	}
	testutil.WaitFor(t, "uploads after the first waiting for it", func() bool {
		return testutil.GoroutinesIn("host.(*moduleStore).loadTurn") == uploads-1
	})
	s.compileMu.Unlock()
	for range uploads {
		if err := <-errs; err == nil {
			t.Fatal("an upload of a module that cannot compile succeeded")
		}
	}
	if err := s.addFrom(context.Background(), "T1", hexSum, bad, true); err == nil {
		t.Error("T1's upload of a module that cannot compile succeeded")
	}
	if m := s.lookup(context.Background(), "T2", hexSum); m != nil {
		s.release(m)
		t.Error("T2, which never sent the module, finds it in the store")
	}
	if n := s.compilations.Load(); n > 1 {
		t.Errorf("%d compilations of one bad module, want at most 1", n)
	}
}

// TestHostile3TurnLockCancellationStorm: many waiters of several tenants
// whose contexts end at random moments, some as the lock is handed to
// them; afterwards the lock is free and no waiter is left queued.
func TestHostile3TurnLockCancellationStorm(t *testing.T) {
	var l turnLock
	tenants := []string{"", "a", "b", "c"}
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 40 {
				d := time.Duration(r.IntN(300)) * time.Microsecond
				ctx, cancel := context.WithTimeout(context.Background(), d)
				if l.LockContext(ctx, tenants[g%len(tenants)]) == nil {
					if r.IntN(4) == 0 {
						time.Sleep(50 * time.Microsecond)
					}
					l.Unlock()
				}
				cancel()
			}
		})
	}
	wg.Wait()
	l.mu.Lock()
	held, queued, turns := l.held, len(l.waiting), len(l.turns)
	l.mu.Unlock()
	if held || queued != 0 || turns != 0 {
		t.Fatalf("after the storm: held %v, %d tenants waiting, %d turns; want a free lock", held, queued, turns)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout) // a hang, not a goal
	defer cancel()
	if err := l.LockContext(ctx, "a"); err != nil {
		t.Fatalf("the lock after the storm: %v", err)
	}
	l.Unlock()
}
