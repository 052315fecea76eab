package testutil

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// PeakRSS returns the peak resident memory (VmHWM) of process pid, in
// bytes. It fails for a process that has ended, a zombie included (it has
// no memory left to measure), and where there is no /proc.
func PeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("testutil: no VmHWM for pid " + strconv.Itoa(pid) + " (ended?)")
}

// An RSSWatch follows the peak resident memory of one process while it
// runs. Unlike wait4's ru_maxrss, which a child starts with the RSS its
// parent had when it forked (a test binary's hundreds of MiB), VmHWM
// belongs to the process's own memory since its exec.
type RSSWatch struct {
	peak atomic.Int64
	done chan struct{}
}

// WatchRSS samples the VmHWM of pid every 20 ms until the process ends.
// The peak misses at most what the process grew in its last 20 ms.
func WatchRSS(pid int) *RSSWatch {
	w := &RSSWatch{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			hwm, err := PeakRSS(pid)
			if err != nil {
				return
			}
			w.peak.Store(max(w.peak.Load(), hwm))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return w
}

// Peak waits until the process has ended (or become a zombie) and returns
// the highest VmHWM seen; 0 if none was read.
func (w *RSSWatch) Peak() int64 {
	<-w.done
	return w.peak.Load()
}
