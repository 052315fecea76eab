package host

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
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
	release func() // drops what the agent keeps for the next execution

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
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
	r.mu.Lock()
	stopped := r.stopped
	r.mu.Unlock()
	if !stopped && r.running.Load() == 0 {
		if r.release != nil {
			r.release()
		}
		// The first collection moves pooled memories to the pools'
		// victim caches; the second frees them.
		runtime.GC()
		debug.FreeOSMemory()
	}
}

// stop cancels a pending release; ended does nothing afterwards.
func (r *idleRelease) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.timer != nil {
		r.timer.Stop()
	}
}
