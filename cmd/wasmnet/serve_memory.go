package main

import (
	"context"
	"runtime/debug"
	"sync"
	"time"
)

// Go returns freed memory to the OS lazily (its scavenger releases a few
// MiB a second), so a server that served hundreds of clients went on
// holding most of their memory minutes after they left: 76 MiB against 8.6
// idle. When the last connection ends serve returns it at once. The pause
// lets the agents' last goroutines end and a client that reconnects at
// once spare the cost.

// idleRelease counts live connections and frees memory once none is left.
type idleRelease struct {
	mu    sync.Mutex
	n     int
	timer *time.Timer
	after time.Duration
}

func newIdleRelease(after time.Duration) *idleRelease {
	return &idleRelease{after: after}
}

// begin counts a connection; the returned func ends it.
func (r *idleRelease) begin() (end func()) {
	r.mu.Lock()
	r.n++
	if r.timer != nil {
		r.timer.Stop()
	}
	r.mu.Unlock()
	return r.end
}

func (r *idleRelease) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n--; r.n > 0 {
		return
	}
	if r.timer != nil {
		r.timer.Reset(r.after)
		return
	}
	r.timer = time.AfterFunc(r.after, r.release)
}

func (r *idleRelease) release() {
	r.mu.Lock()
	idle := r.n == 0
	r.mu.Unlock()
	if idle {
		debug.FreeOSMemory()
	}
}

// stop stops the timer when serve ends.
func (r *idleRelease) stop(context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
	}
}
