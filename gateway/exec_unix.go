//go:build unix

package gateway

import (
	"errors"
	"os"
	"syscall"
)

// killGroup kills p's process group, which startProcess made p the leader of.
func killGroup(p *os.Process) error {
	err := syscall.Kill(-p.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
