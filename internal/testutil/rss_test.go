package testutil

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
)

// TestWatchRSS measures a small child of a process that holds 128 MiB: the
// watch must report the child's own peak, where wait4's ru_maxrss reports
// at least the parent's RSS at the fork.
func TestWatchRSS(t *testing.T) {
	if _, err := PeakRSS(1); err != nil {
		t.Skipf("no VmHWM in /proc: %v", err)
	}
	ballast := make([]byte, 128<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	cmd := exec.Command("sleep", "0.3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := WatchRSS(cmd.Process.Pid)
	cmd.Wait()
	peak := w.Peak()
	runtime.KeepAlive(ballast)
	var maxrss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxrss = ru.Maxrss << 10
	}
	t.Logf("sleep: VmHWM %d KiB, wait4 ru_maxrss %d KiB", peak>>10, maxrss>>10)
	if peak <= 0 || peak > 32<<20 {
		t.Fatalf("sleep's peak RSS %d KiB, want above 0 and far below the 128 MiB of its parent", peak>>10)
	}
}
