package host

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmnet/wasmnet/internal/filepages"
)

// idleReleaseAfter is how long an agent runs nothing before it gives the
// memory its ended executions left to the system.
const idleReleaseAfter = 250 * time.Millisecond

// idleRelease returns freed memory to the system when an agent goes idle.
// Go keeps the heap an execution freed (its pooled linear memories, the
// instance wazero built) for reuse and returns it only slowly; an agent
// that waits for its next job should weigh what it weighed before the last
// one (RATIONALE.md, "Why does an idle agent give back its memory?").
type idleRelease struct {
	running *atomic.Int64
	// release drops what the agent keeps for the next execution. It may
	// take a while (outline.go, swapOutlines): it stops early when ctx
	// ends or when still reports an execution started.
	release func(ctx context.Context, still func() bool)

	// ctx ends with stop, so that a release under way ends with the
	// engine; busy is held while one runs, so that stop can wait for it.
	ctx    context.Context
	cancel context.CancelFunc
	busy   sync.Mutex

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func newIdleRelease(running *atomic.Int64, release func(context.Context, func() bool)) *idleRelease {
	ctx, cancel := context.WithCancel(context.Background())
	return &idleRelease{running: running, release: release, ctx: ctx, cancel: cancel}
}

// ended is called after an execution ended and running was decremented.
func (r *idleRelease) ended() {
	if r.running.Load() != 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if r.timer == nil {
		r.timer = time.AfterFunc(idleReleaseAfter, r.idle)
		return
	}
	r.timer.Reset(idleReleaseAfter)
}

func (r *idleRelease) idle() {
	r.busy.Lock()
	defer r.busy.Unlock()
	r.mu.Lock()
	stopped := r.stopped
	r.mu.Unlock()
	if !stopped && r.still() {
		if r.release != nil {
			r.release(r.ctx, r.still)
		}
		// The first collection moves pooled memories to the pools'
		// victim caches; the second frees them.
		runtime.GC()
		debug.FreeOSMemory()
		// Last, as the collections read the executable's type data; not
		// under an execution that started meanwhile, which would only
		// fault the pages back.
		if r.still() {
			filepages.Drop()
		}
	}
}

// still reports whether the agent is still idle.
func (r *idleRelease) still() bool { return r.running.Load() == 0 }

// stop cancels a pending release, ends one under way and waits for it;
// ended does nothing afterwards.
func (r *idleRelease) stop() {
	r.mu.Lock()
	r.stopped = true
	if r.timer != nil {
		r.timer.Stop()
	}
	r.mu.Unlock()
	r.cancel()
	r.busy.Lock()
	r.busy.Unlock()
}
