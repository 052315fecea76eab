//go:build !linux

package main

import (
	"fmt"
	"runtime"
)

// lowerPriority is not implemented where the nice value is not reachable
// through package syscall alike; the agent refuses to start rather than
// run at a priority its client did not ask for.
func lowerPriority(n int) error {
	return fmt.Errorf("lowering the priority is not supported on %s", runtime.GOOS)
}
