package host

import (
	"bytes"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// lockedBuffer is an agent's log, written by its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUnwritableCacheCompilesInMemory: with a compilation cache that
// cannot be written (here every file write past one byte fails, as on a
// full disk), modules still run, compiled in memory, and the agent warns
// once, not once per module.
func TestUnwritableCacheCompilesInMemory(t *testing.T) {
	var log lockedBuffer
	a := startAgent(t, NewConfig().WithCompilationCacheDir(t.TempDir()).WithLog(&log))
	// The limit is the process's: no other test runs while this one does
	// (it is not parallel), and the agent's own writes are what it bounds.
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 1, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
		}
	}
	defer restore()
	runToEnd(t, a, variant(1, 4096))
	runToEnd(t, a, variant(2, 4096))
	restore()
	if st := status(t, a); st.Compilations != 2 || st.CacheLoads != 0 {
		t.Errorf("status: %d compilations, %d cache loads; want 2 and 0", st.Compilations, st.CacheLoads)
	}
	if got := log.String(); strings.Count(got, "cannot be written") != 1 || strings.Contains(got, "invalid WebAssembly") {
		t.Errorf("agent log %q: want one warning that the cache cannot be written", got)
	}
}
