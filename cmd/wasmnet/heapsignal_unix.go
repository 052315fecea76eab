//go:build unix

package main

import (
	"os"
	"syscall"
)

// heapProfileSignals ask an agent for a heap profile (heapProfileOnSignal).
var heapProfileSignals = []os.Signal{syscall.SIGUSR1}
