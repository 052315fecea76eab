package host

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// runtimeKind names one of an agent's two wazero runtimes. wazero stops a
// running guest when its context ends only if the guest was compiled to
// check for that at every loop and call (WithCloseOnContextDone), and
// those checks make tight loops up to six times slower (RATIONALE.md). So
// an execution with a run-time limit runs in a runtime with the checks,
// and one without a limit in a runtime without them, at full speed: it
// ends when it returns, or with its agent's process.
type runtimeKind int

const (
	unlimited     runtimeKind = iota // no cancellation checks in guest code
	interruptible                    // guest code checks for cancellation
)

// runtimes creates each kind of runtime the first time an execution needs
// it, so an agent that never sees a run-time limit never pays for the other.
type runtimes struct {
	base wazero.RuntimeConfig

	mu     sync.Mutex
	rts    [2]wazero.Runtime
	closed bool
}

func (r *runtimes) get(ctx context.Context, kind runtimeKind) (wazero.Runtime, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("the agent is shutting down")
	}
	if r.rts[kind] != nil {
		return r.rts[kind], nil
	}
	rt := wazero.NewRuntimeWithConfig(ctx, r.base.WithCloseOnContextDone(kind == interruptible))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("host: WASI: %w", err)
	}
	if err := instantiateABI(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("host: ABI module: %w", err)
	}
	r.rts[kind] = rt
	return rt, nil
}

// close closes the runtimes made so far; get fails afterwards.
func (r *runtimes) close(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, rt := range r.rts {
		if rt != nil {
			rt.Close(ctx)
		}
	}
}
