package testwasm

import (
	"runtime"
	"testing"
)

// Agent returns the path of the wasmnet binary built from the current
// sources for this machine, for tests that start real agent processes.
func Agent(t testing.TB) string {
	t.Helper()
	return AgentFor(t, runtime.GOOS, runtime.GOARCH)
}
