package host

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: Serve must
// stop every execution, bridge and loop it started.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// compileHeavy skips t under the race detector. Such a test compiles Go
// guests (15 MB of machine code each) to check files, mappings and what
// runs, not the agent's concurrency; wazero's compiler under the detector
// takes tens of seconds a guest, which `make test-race` cannot afford, and
// `make test-go` runs the test without it.
func compileHeavy(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("compiles Go guests: run by make test-go, not under -race")
	}
}
