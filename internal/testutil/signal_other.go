//go:build !unix

package testutil

import "os"

func signalZero(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p != nil
}
