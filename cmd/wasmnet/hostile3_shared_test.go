//go:build linux

package main

import (
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/shared"
)

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestHostile3SharedAgentManyRightsInOneMessage sends a shared agent, over
// its control connection, messages of 8 and of 200 sockets, more than it
// takes in one message: none is served, every one is closed (its peer sees
// the end), and the agent holds no more descriptors than before.
func TestHostile3SharedAgentManyRightsInOneMessage(t *testing.T) {
	ctl, log, done := startSharedAgent(t)
	before := countFDs(t)
	for _, n := range []int{8, 200} {
		var keeps []*net.UnixConn
		var fds []int
		for range n {
			k, g, err := shared.Pair()
			if err != nil {
				t.Fatal(err)
			}
			keeps = append(keeps, k)
			fds = append(fds, int(g.Fd()))
			defer g.Close()
		}
		if _, _, err := ctl.WriteMsgUnix([]byte{'c'}, syscall.UnixRights(fds...), nil); err != nil {
			t.Fatal(err)
		}
		for _, fd := range fds {
			syscall.Close(fd)
		}
		for i, k := range keeps {
			k.SetReadDeadline(time.Now().Add(time.Minute))
			if n, err := k.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("socket %d of a message of %d: read %d bytes, %v; want EOF (refused, closed)", i, len(keeps), n, err)
			}
			k.Close()
		}
	}
	ctl.Close()
	if err := <-done; err != nil {
		t.Fatalf("the agent after its control connection closed: %v", err)
	}
	if after := countFDs(t); after > before {
		t.Errorf("%d descriptors after, %d before", after, before)
	}
	t.Logf("agent log:\n%s", log.String())
}
