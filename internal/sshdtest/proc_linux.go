package sshdtest

import "syscall"

// procAttr makes sshd die with the test binary, even when the binary is
// killed before its cleanups run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
