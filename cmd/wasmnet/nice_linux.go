package main

import (
	"os"
	"strconv"
	"syscall"
)

// lowerPriority adds n to the nice value of every thread of the process.
// Linux keeps the nice value per thread, and the Go runtime has started
// several before main; a thread made later inherits it from the one that
// makes it, so once all have it, all will. Threads may start while this
// runs, so it goes over them until a pass finds none left (a few passes:
// the runtime makes a bounded number at start-up).
func lowerPriority(n int) error {
	// The raw syscall returns 20 - nice (glibc's wrapper undoes that).
	raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		return err
	}
	want := min(20-raw+n, 19)
	for range 5 {
		changed, err := reniceThreads(want)
		if err != nil || !changed {
			return err
		}
	}
	return nil
}

// reniceThreads sets every thread whose nice value is not want to want,
// and reports whether it changed any.
func reniceThreads(want int) (bool, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return false, err
	}
	changed := false
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
		if err != nil || 20-raw == want {
			continue // a thread that ended, or one already done
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, want); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}
