package guest

import (
	"os"
	"runtime/debug"
)

// The Go runtime of a guest collects garbage on one thread, behind write
// barriers, in code that runs at a fraction of native speed, so a
// collection costs a guest several times what it costs natively; yet the
// heap target it starts with (GOGC=100 from a 4 MiB minimum) knows nothing
// of the memory the execution may use. The SDK paces the collector by the
// execution's memory limit (the ABI's memory_limit): garbage may grow to an
// eighth of the limit before a collection, and the runtime's memory limit
// (GOMEMLIMIT) is three quarters of it, so a heap that nears the limit is
// collected harder instead of failing. The Starlark word count ran about a
// sixth faster under the default 256 MiB limit (BENCHMARKS.md, "Where a
// guest's time goes"), and a guest's garbage stays within a share of what
// its client granted. A client that sets GOGC or GOMEMLIMIT in the guest's
// environment keeps its own setting.

const (
	// gcHeapShare is the runtime's memory limit, in quarters of the
	// execution's: the rest holds the module's data, goroutine stacks, the
	// runtime's own structures and fragmentation, which a wasm memory
	// never returns.
	gcHeapShare = 3
	// gcFloorShare is the fraction of the execution's memory limit that
	// garbage may fill before the first collection, as 1/gcFloorShare:
	// the collector's floor is 4 MiB at GOGC=100 and scales with GOGC.
	gcFloorShare = 8
	goFloor      = 4 << 20
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
	debug.SetGCPercent(gcPercent(limit))
}

// gcPercent is the GOGC that puts the collector's floor at an eighth of
// limit, and never below Go's default.
func gcPercent(limit int64) int {
	return int(max(100, min(limit/gcFloorShare/(goFloor/100), 1<<20)))
}
