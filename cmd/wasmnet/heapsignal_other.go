//go:build !unix

package main

import "os"

// heapProfileSignals is empty: there is no SIGUSR1 to ask an agent for a
// heap profile with.
var heapProfileSignals []os.Signal
