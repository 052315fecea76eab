package gateway

import (
	"os"
	"syscall"
)

// procAttr puts the process in its own group and has the kernel kill it when
// the thread that started it, hence in practice this process, dies.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// pipeSize is what growPipe asks the kernel for: the default pipe holds 64
// KiB, so a 1 MiB message crossed in sixteen reads and writes, each a
// wake-up of the other side. 1 MiB is Linux's default ceiling for users
// (/proc/sys/fs/pipe-max-size).
const pipeSize = 1 << 20

// growPipe enlarges the pipe behind f; where the kernel refuses, the pipe
// keeps its size and works as before.
func growPipe(f *os.File) {
	if sc, err := f.SyscallConn(); err == nil {
		sc.Control(func(fd uintptr) {
			syscall.Syscall(syscall.SYS_FCNTL, fd, fcntlSetPipeSize, pipeSize)
		})
	}
}

// fcntlSetPipeSize is F_SETPIPE_SZ, which package syscall does not name.
const fcntlSetPipeSize = 1031
