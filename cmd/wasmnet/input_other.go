//go:build !linux

package main

import (
	"context"
	"os"
)

// openInput opens a file the command reads. Elsewhere than on Linux the
// open of a FIFO without a writer blocks until one comes (the poller does
// not serve FIFOs on every system); reads end with ctx as on Linux.
func openInput(_ context.Context, path string) (*os.File, error) { return os.Open(path) }
