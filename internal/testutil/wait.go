package testutil

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WaitTimeout bounds every wait of this package, and the waits of tests
// that only guard against a hang. It only catches hangs, so it is far
// beyond what load reaches: `make test` on a 2-core machine shared with
// seven others made a one-minute bound fail a test that passed alone.
const WaitTimeout = 10 * time.Minute

// WaitFor polls cond until it holds, and fails the test naming what it
// waited for if it does not within WaitTimeout. Use it for conditions
// nothing signals (another process's state); wait on a channel, Done or
// Accept where there is one.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Poll(WaitTimeout, cond) {
		t.Fatalf("waited %v for %s", WaitTimeout, what)
	}
}

// Poll calls cond, at first every millisecond and then at most every
// 50 ms, until it holds or d has passed, and reports whether it held. It
// is WaitFor for a test that bounds the wait itself, because the time is
// what it checks, or that reports a condition that did not come with
// more than WaitFor says.
func Poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for delay := time.Millisecond; !cond(); delay = min(2*delay, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay)
	}
	return true
}

// ProcessRunning reports whether pid is a process that has not ended. A
// zombie has ended: it runs nothing and holds nothing but its exit status,
// whoever will reap it. Where /proc is missing it reports whether signal 0
// reaches pid, which counts a zombie as running.
func ProcessRunning(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if os.IsNotExist(err) {
		if _, err := os.Stat("/proc/self/stat"); err == nil {
			return false
		}
		return signalZero(pid)
	}
	if err != nil {
		return false
	}
	// The state follows the command name, which may hold spaces and ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return !(i > 0 && strings.HasPrefix(string(stat[i+1:]), " Z"))
}

// WaitProcessEnded waits until pid has ended (ProcessRunning is false).
func WaitProcessEnded(t testing.TB, pid int) {
	t.Helper()
	WaitFor(t, "process "+strconv.Itoa(pid)+" to end", func() bool { return !ProcessRunning(pid) })
}
