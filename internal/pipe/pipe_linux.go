package pipe

import (
	"os"

	"golang.org/x/sys/unix"
)

// Grow enlarges the pipe behind f to Size; where the kernel refuses, the
// pipe keeps its size and works as before.
func Grow(f *os.File) {
	if sc, err := f.SyscallConn(); err == nil {
		sc.Control(func(fd uintptr) {
			unix.FcntlInt(fd, unix.F_SETPIPE_SZ, Size)
		})
	}
}
