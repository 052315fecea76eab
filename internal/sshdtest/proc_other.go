//go:build !linux

package sshdtest

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }
