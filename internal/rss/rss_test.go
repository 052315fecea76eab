package rss

import (
	"os"
	"runtime"
	"testing"
)

func TestSelfAndProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/PID/status is Linux's")
	}
	self, err := Self()
	if err != nil || self < 1<<20 {
		t.Fatalf("Self: %d, %v; want at least 1 MiB", self, err)
	}
	byPID, err := Process(os.Getpid())
	if err != nil || byPID < 1<<20 {
		t.Fatalf("Process: %d, %v", byPID, err)
	}
	if _, err := Process(-1); err == nil {
		t.Fatal("Process(-1) succeeded")
	}
}
