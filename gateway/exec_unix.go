//go:build unix

package gateway

import (
	"errors"
	"os"
	"os/exec"
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

// brokenPipe reports whether an agent died of SIGPIPE: writing its last
// frames to a connection the client had closed, which is how a terminated
// agent may well end.
func brokenPipe(err *exec.ExitError) bool {
	ws, ok := err.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGPIPE
}
