package gateway

import "syscall"

// procAttr puts the process in its own group and has the kernel kill it when
// the thread that started it, hence in practice this process, dies.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
