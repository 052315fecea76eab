package channel

import (
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The tests in this file fill the windows of many channels a side holds
// and reads none of (the hostile review's breaks 3 and 5): each window
// holds, so only a bound on the whole connection bounds their sum.

// unreadConfig is the receiving side's config: the bound lets four full
// windows and one more message in.
var unreadConfig = &Config{Window: 64 << 10, MaxUnreadBytes: 256 << 10}

// fillWindows opens n channels from the client, which the agent accepts,
// and sends on each one message of just under a window.
func fillWindows(t *testing.T, cm, am *Mux, n int) (client, agent []*Channel) {
	t.Helper()
	msg := make([]byte, unreadConfig.Window-64)
	for range n {
		c, a := channelPair(t, cm, am)
		if err := c.SendContext(testCtx(t), msg); err != nil {
			t.Fatalf("send on %v: %v", c, err)
		}
		client, agent = append(client, c), append(agent, a)
	}
	return client, agent
}

// TestSecurityUnreadBytesBoundedPerConnection: a peer that fills the
// window of every channel this side holds gets the channels past
// MaxUnreadBytes failed, on both sides, with an error naming the bound;
// the channels within it keep their data, and the connection goes on.
func TestSecurityUnreadBytesBoundedPerConnection(t *testing.T) {
	cm, am := muxPair(t, netPipePair, nil, unreadConfig)
	const n = 12
	client, agent := fillWindows(t, cm, am, n)
	// Frames arrive in order: once the last channel's failure is back,
	// the agent has seen every message.
	var re *RemoteError
	if err := client[n-1].WaitClose(testCtx(t)); !errors.As(err, &re) || !strings.Contains(err.Error(), "MaxUnreadBytes") {
		t.Fatalf("the last of %d filled channels ended with %v, want a RemoteError naming MaxUnreadBytes", n, err)
	}
	kept := 0
	for _, a := range agent {
		_, err := a.Receive(testCtx(t))
		switch {
		case err == nil:
			kept++
		case !strings.Contains(err.Error(), "MaxUnreadBytes"):
			t.Errorf("%v: %v, want data or an error naming MaxUnreadBytes", a, err)
		}
	}
	// Four messages stay under the bound, and the fifth passes it.
	if kept != 5 {
		t.Errorf("%d of %d full windows kept, want 5 under a bound of 4 windows", kept, n)
	}
	// Read, they no longer count.
	c, a := fillWindows(t, cm, am, 1)
	if _, err := a[0].Receive(testCtx(t)); err != nil {
		t.Fatalf("%v after the others were read: %v (the connection ended: %v)", c[0], err, am.Err())
	}
}

// TestUnreadBytesFreedByClose: the bytes of a channel the peer filled and
// closed stop counting against MaxUnreadBytes once this side closes it
// unread, as an agent does with a guest's channels when the guest ends.
func TestUnreadBytesFreedByClose(t *testing.T) {
	cm, am := muxPair(t, netPipePair, nil, unreadConfig)
	for round := range 3 {
		client, agent := fillWindows(t, cm, am, 4)
		for _, c := range client {
			c.Close()
		}
		for _, a := range agent {
			if err := a.WaitClose(testCtx(t)); err != nil {
				t.Fatalf("round %d: %v: %v", round, a, err)
			}
			a.Close()
		}
	}
	_, a := fillWindows(t, cm, am, 1)
	if _, err := a[0].Receive(testCtx(t)); err != nil {
		t.Fatalf("a message after 12 windows closed unread: %v", err)
	}
}

// TestUnreadBytesFreedWhenChannelDropped: the bytes of a channel the peer
// filled and closed stop counting against MaxUnreadBytes once this side
// drops it unread without closing it (a value naming it that nobody looked
// at), when the garbage collector finds it gone.
func TestUnreadBytesFreedWhenChannelDropped(t *testing.T) {
	cm, am := muxPair(t, netPipePair, nil, unreadConfig)
	func() {
		client, agent := fillWindows(t, cm, am, 5)
		for _, c := range client {
			c.Close()
		}
		for _, a := range agent {
			if err := a.WaitClose(testCtx(t)); err != nil {
				t.Fatalf("%v: %v", a, err)
			}
		}
	}()
	// Cleanups run after a collection, on a goroutine of their own.
	for i := range 100 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		_, a := fillWindows(t, cm, am, 1)
		_, err := a[0].Receive(testCtx(t))
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "MaxUnreadBytes") {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	t.Fatal("5 windows filled, closed and dropped unread still count against MaxUnreadBytes")
}

// TestMuxCollectedAfterClose: a mux whose peer opened channels is garbage
// once it is closed and dropped, with what it serves (a long-lived agent
// serves a connection per gateway, and kept every one it had closed).
func TestMuxCollectedAfterClose(t *testing.T) {
	var collected atomic.Int32
	func() {
		a, b := netPipePair(t)
		ctx := testCtx(t)
		agentDone := make(chan *Mux, 1)
		go func() {
			m, err := NewMux(ctx, b, RoleAgent, nil)
			if err != nil {
				t.Error(err)
			}
			agentDone <- m
		}()
		cm, err := NewMux(ctx, a, RoleClient, nil)
		if err != nil {
			t.Fatal(err)
		}
		am := <-agentDone
		if am == nil {
			t.FailNow()
		}
		for range 3 {
			c, err := cm.OpenChannel()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Send("x"); err != nil {
				t.Fatal(err)
			}
		}
		// One taken, two left in the backlog, as an agent leaves those
		// its client opened for nothing.
		if _, err := am.Accept(ctx); err != nil {
			t.Fatal(err)
		}
		runtime.AddCleanup(cm, func(n *atomic.Int32) { n.Add(1) }, &collected)
		runtime.AddCleanup(am, func(n *atomic.Int32) { n.Add(1) }, &collected)
		cm.Close()
		am.Close()
		<-cm.Done()
		<-am.Done()
	}()
	// Cleanups run after a collection, on a goroutine of their own; the
	// writer's last close waits a second at most (mux.go).
	for range 1000 {
		if collected.Load() == 2 {
			return
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d of 2 closed muxes collected", collected.Load())
}
