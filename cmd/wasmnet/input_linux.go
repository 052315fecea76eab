package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// openInput opens a file the command reads (an --input, an inventory) so
// that neither the open nor a read outlives ctx. A FIFO opened for reading
// blocks in open(2) until a writer comes, where no signal handler or timer
// of the runtime can end it; opened with O_NONBLOCK it does not, and the
// wait for a writer happens in the runtime's poller, which a deadline ends.
// The file's reads are served by the poller too, and ctx's end makes them
// fail (context.AfterFunc closes nothing here: the caller owns f).
func openInput(ctx context.Context, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Mode()&fs.ModeNamedPipe != 0 {
		err = waitWriter(ctx, f)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// waitWriter waits until the FIFO f has data or has had a writer that left
// (Linux reports neither, not even a hang-up, before the first writer of
// this open), or until ctx ends. Until then a read would return 0, which
// os reports as the end of the file.
func waitWriter(ctx context.Context, f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	defer stop()
	var pollErr error
	err = rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		if err != nil && err != unix.EINTR {
			pollErr = err
			return true
		}
		return n > 0
	})
	if ctx.Err() != nil {
		return fmt.Errorf("waiting for a writer: %w", context.Cause(ctx))
	}
	if err == nil {
		err = pollErr
	}
	if err != nil {
		return err
	}
	return f.SetReadDeadline(time.Time{})
}
