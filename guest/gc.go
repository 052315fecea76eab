package guest

import (
	"os"
	"runtime/debug"
)

// The Go runtime of a guest collects garbage on one thread, behind write
// barriers, in code that runs at a fraction of native speed, so a
// collection costs a guest several times what it costs natively; yet the
// heap target it starts with (GOGC=100 from a 4 MiB minimum) knows nothing
// of the memory the execution may use. As GOMEMLIMIT with GOGC=off does
// natively, the SDK sets the runtime's memory limit from the execution's
// (the ABI's memory_limit) and lets the heap grow to it before collecting:
// the Starlark word count ran a quarter faster (BENCHMARKS.md, "Where a
// guest's time goes"). A client that sets GOGC or GOMEMLIMIT in the
// guest's environment keeps its own setting.

const (
	// gcHeapShare is the heap's share of the memory limit, in quarters:
	// the rest holds the module's data, goroutine stacks, the runtime's
	// own structures and fragmentation, which a wasm memory never returns.
	gcHeapShare = 3
	// gcOffFrom is the smallest limit under which the collector is turned
	// off: below it the heap would meet the limit after a few MiB, and
	// collections by the default pace cost less than collections forced
	// by a limit that is always near.
	gcOffFrom = 32 << 20
)

// tuneGC applies the execution's memory limit to the Go runtime. It runs
// when the guest first asks for its channel: in a reactor that is in each
// execution, after the image was restored, so every execution gets its own
// limit and none enters the image.
func tuneGC() {
	if _, ok := os.LookupEnv("GOGC"); ok {
		return
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return
	}
	limit := hostMemoryLimit()
	if limit <= 0 {
		return
	}
	debug.SetMemoryLimit(limit / 4 * gcHeapShare)
	if limit >= gcOffFrom {
		debug.SetGCPercent(-1)
	}
}
