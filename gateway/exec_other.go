//go:build unix && !linux

package gateway

import "syscall"

// procAttr puts the process in its own group. Only Linux can also tie the
// child's life to ours; elsewhere the agent ends when its stdin closes.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
