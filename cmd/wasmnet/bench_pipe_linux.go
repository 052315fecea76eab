package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe gives the raw probes' pipes the 1 MiB that gateways ask for
// (gateway/exec_linux.go), so that the raw limit is the same pipe's.
func growPipe(f *os.File) {
	unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
}
