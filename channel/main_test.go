package channel

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: every Mux
// must stop its loops, handlers and callbacks when it ends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
