//go:build unix

package main

import (
	"os"
	"syscall"
)

// pollable returns a File for fd in non-blocking mode, which os then
// serves through the runtime's poller; f itself when that fails.
func pollable(f *os.File, fd int) *os.File {
	if err := syscall.SetNonblock(fd, true); err != nil {
		return f
	}
	return os.NewFile(uintptr(fd), f.Name())
}
