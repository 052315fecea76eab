package channel

import (
	"context"
	"errors"
	"io"
	"testing"
)

// blockingCloseConn is a conn whose Close blocks until released, as an SSH
// session's does while a write on a dead link holds its lock.
type blockingCloseConn struct {
	io.ReadWriteCloser
	release chan struct{}
}

func (c *blockingCloseConn) Close() error {
	<-c.release
	return c.ReadWriteCloser.Close()
}

// TestLostConnectionReachesWaitersBeforeConnClose: when the connection
// fails, a pending Receive returns at once even if closing the conn blocks.
func TestLostConnectionReachesWaitersBeforeConnClose(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	cm, am := muxPair(t, func(t testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser) {
		a, b := osPipePair(t)
		return &blockingCloseConn{a, release}, b
	}, nil, nil)
	c, _ := channelPair(t, cm, am)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Receive(testCtx(t))
		errc <- err
	}()
	am.Close() // the client's read loop sees the end and fails its mux
	if err := <-errc; !errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive after the connection failed: %v, want the connection's loss", err)
	}
}
