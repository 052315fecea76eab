//go:build !linux

package resident

import (
	"context"
	"net"
	"os"
)

// Key names the build of the agent binary; resident agents need Linux.
func Key(fi os.FileInfo) (string, error) { return "", ErrUnsupported }

// CheckDir checks the directory of the sockets; resident agents need Linux.
func CheckDir(dir string) error { return ErrUnsupported }

// Dial connects to a resident agent; resident agents need Linux.
func Dial(ctx context.Context, p Paths) (*Conn, error) { return nil, ErrUnsupported }

// Lock takes a lock on path; resident agents need Linux.
func Lock(ctx context.Context, path string, wait bool) (func(), error) { return nil, ErrUnsupported }

// A Conn is a client's connection to a resident agent.
type Conn struct {
	*net.UnixConn
	PID     int
	Version string
}

// Exiting reports whether process pid is gone or on its way out; without
// Linux's /proc it cannot tell, and no resident agent runs.
func Exiting(pid int) bool { return false }

// ReadBanner reads a resident agent's banner; resident agents need Linux.
func ReadBanner(ctx context.Context, c net.Conn, p Paths) (string, error) { return "", ErrUnsupported }
