//go:build linux

package main

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/host"
	"github.com/wasmnet/wasmnet/internal/shared"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// TestSharedAgentRefusesWhatIsNotAConnection sends a shared agent, over
// its control connection, a pipe, a datagram socket, a message with two
// sockets and one with none, then a gateway's connection: the first four
// are refused and closed, the last is served (the agent says hello on it),
// and the agent returns once the control connection closes and the served
// connection ends.
func TestSharedAgentRefusesWhatIsNotAConnection(t *testing.T) {
	ctl, log, done := startSharedAgent(t)

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	send(t, ctl, pw)
	pw.Close()
	dfds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	dgram := os.NewFile(uintptr(dfds[0]), "dgram")
	syscall.Close(dfds[1])
	send(t, ctl, dgram)
	dgram.Close()
	k1, g1, _ := shared.Pair()
	k2, g2, _ := shared.Pair()
	if _, _, err := ctl.WriteMsgUnix([]byte{'c'}, syscall.UnixRights(int(g1.Fd()), int(g2.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	g1.Close()
	g2.Close()
	if _, err := ctl.Write([]byte{'c'}); err != nil {
		t.Fatal(err)
	}

	keep, give, err := shared.Pair()
	if err != nil {
		t.Fatal(err)
	}
	send(t, ctl, give)
	give.Close()
	keep.SetReadDeadline(time.Now().Add(testutil.WaitTimeout))
	if n, err := keep.Read(make([]byte, 64)); n == 0 {
		t.Fatalf("the agent said nothing on a gateway's connection: %v", err)
	}

	// What was refused was closed by the agent: the pipe's reader sees
	// its end, and the sockets of the message with two see theirs.
	pr.SetReadDeadline(time.Now().Add(testutil.WaitTimeout))
	if _, err := pr.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the refused pipe: %v, want EOF (closed by the agent)", err)
	}
	for _, k := range []*net.UnixConn{k1, k2} {
		k.SetReadDeadline(time.Now().Add(testutil.WaitTimeout))
		if _, err := k.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("a socket of a refused message: %v, want EOF (closed by the agent)", err)
		}
		k.Close()
	}
	if got := strings.Count(log.String(), "without exactly one stream socket"); got != 4 {
		t.Errorf("the agent logged %d refusals, want 4:\n%s", got, log.String())
	}

	ctl.Close()
	select {
	case err := <-done:
		t.Fatalf("the agent returned (%v) while a gateway's connection was open", err)
	case <-time.After(50 * time.Millisecond):
	}
	keep.Close()
	if err := <-done; err != nil {
		t.Fatalf("the agent after its control connection and last gateway closed: %v", err)
	}
}

func send(t *testing.T, ctl *net.UnixConn, f *os.File) {
	t.Helper()
	if err := shared.Send(ctl, f); err != nil {
		t.Fatal(err)
	}
}

// startSharedAgent runs serveShared on a goroutine of the test, as `wasmnet
// agent --shared` would, and returns the client's end of its control
// connection, the agent's log, and what serveShared returns.
func startSharedAgent(t *testing.T) (ctl *net.UnixConn, log *testutil.SyncBuffer, done <-chan error) {
	t.Helper()
	ctl, agentEnd, err := shared.Pair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	fc, err := net.FileConn(agentEnd)
	agentEnd.Close()
	if err != nil {
		t.Fatal(err)
	}
	log = new(testutil.SyncBuffer)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout) // a hang, not a goal
	t.Cleanup(cancel)
	served := make(chan error, 1)
	go func() { served <- serveShared(ctx, fc.(*net.UnixConn), host.NewConfig().WithVersion("test"), log) }()
	return ctl, log, served
}
