package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmnet/wasmnet/host/internal/instrument"
)

// StopMechanism is how an agent makes computing guests stoppable. Only
// benchmarks choose: the default, [StopInstrument], is the one that keeps
// every guest stoppable at a few percent of its speed (RATIONALE.md, "Why
// are guests instrumented?").
type StopMechanism int

const (
	// StopInstrument rewrites each module before compiling it so that
	// its loops and calls reach the host every yieldBudget steps.
	StopInstrument StopMechanism = iota
	// StopContextChecks compiles guests with wazero's own checks for the
	// end of their context at every loop and call: stoppable, several
	// times slower.
	StopContextChecks
	// StopNone runs guests unchanged and unchecked: a computing guest can
	// be stopped only with its agent's process, and it keeps the agent's
	// garbage collector waiting until it returns. For benchmarks only.
	StopNone
)

// yieldBudget is how many function entries and loop iterations an
// instrumented guest runs between two calls into the host. At a
// nanosecond or more each, the host sees every guest at least every
// 100 µs or so, and the call's cost (~100 ns) stays under 0.1%.
const yieldBudget = 100_000

// newRuntime makes the agent's wazero runtime with the host modules every
// guest may import: WASI, the wasmnet ABI and the instrumentation's yield.
func newRuntime(ctx context.Context, base wazero.RuntimeConfig, stop StopMechanism) (wazero.Runtime, error) {
	rt := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(base, stop))
	if err := instantiateWASI(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("host: WASI: %w", err)
	}
	if err := instantiateABI(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("host: ABI module: %w", err)
	}
	yields := rt.NewHostModuleBuilder(instrument.ImportModule)
	for _, name := range []string{instrument.ImportName, instrument.ImportNameStatic} {
		yields.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(yield), nil, []api.ValueType{api.ValueTypeI32}).
			Export(name)
	}
	_, err := yields.Instantiate(ctx)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("host: yield module: %w", err)
	}
	return rt, nil
}

// runtimeConfig is the configuration of the agent's runtime made from
// base: everything in it that shapes compiled code is in wazero's cache
// key, so a runtime of the same configuration finds the same files.
func runtimeConfig(base wazero.RuntimeConfig, stop StopMechanism) wazero.RuntimeConfig {
	return base.WithCloseOnContextDone(stop == StopContextChecks)
}

// yield is the host function instrumented guests call every yieldBudget
// steps. Returning to Go here is what lets the Go scheduler preempt the
// guest's goroutine; the panic stops a guest whose execution has ended,
// and wazero turns it into the error its Call returns.
func yield(ctx context.Context, _ api.Module, stack []uint64) {
	if e, _ := ctx.Value(execKey{}).(*execution); e != nil {
		select {
		case <-e.ctx.Done():
			panic(sys.NewExitError(stopCode(e.ctx)))
		default:
		}
	}
	stack[0] = yieldBudget
}

// stopCode is the exit code a guest stopped by the end of ctx ends with.
func stopCode(ctx context.Context) uint32 {
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return sys.ExitCodeDeadlineExceeded
	}
	return sys.ExitCodeContextCanceled
}

// runtimeKind names the code a module is compiled to. There is one kind
// now that every guest is stoppable (there were two: with and without
// wazero's context checks); the module store and its disk cache keep
// compiled code by kind.
type runtimeKind int

const unlimited runtimeKind = 0

// runtimes is the agent's one runtime, as the module store sees it.
type runtimes struct {
	rt   wazero.Runtime
	stop StopMechanism
	// config is rt's configuration, for the runtimes that compile
	// outlines apart (outline.go); nil where there are none.
	config wazero.RuntimeConfig
}

func (r *runtimes) get(context.Context, runtimeKind) (wazero.Runtime, error) { return r.rt, nil }

// prepare returns the module bytes to compile for a stop mechanism.
func prepare(b []byte, stop StopMechanism) ([]byte, error) {
	out, err := instrument.Module(b, yieldBudget)
	if err != nil || stop == StopInstrument {
		return out, err
	}
	// Run unchanged, but only within the bounds of shape the rewrite
	// checks (instrument.MaxFuncs and the others), which bound the cost
	// of compiling it.
	return b, nil
}
