//go:build unix

package testutil

import "syscall"

func signalZero(pid int) bool { return syscall.Kill(pid, 0) == nil }
