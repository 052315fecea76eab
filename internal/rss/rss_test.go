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
	for name, read := range map[string]func(int) (int64, error){"Process": Process, "Peak": Peak} {
		n, err := read(os.Getpid())
		if err != nil || n < 1<<20 {
			t.Fatalf("%s: %d, %v", name, n, err)
		}
		if _, err := read(-1); err == nil {
			t.Fatalf("%s(-1) succeeded", name)
		}
	}
	before, _ := Self()
	if peak, err := PeakSelf(); err != nil || peak < before {
		t.Fatalf("PeakSelf %d, %v; below the RSS read before it, %d", peak, err, before)
	}
}
