package host

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: Serve must
// stop every execution, bridge and loop it started.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
