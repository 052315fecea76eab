package tests

// The hostile review's breaks 3 and 5: every window held, but nothing
// bounded the unread bytes of the channels one peer filled at once.

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// TestSecurityServeTenantChannelsBoundMemory: a restrict key's guest takes
// 160 channels its client opened and reads none of them; the client fills
// each one's window. Every channel keeps its window, but nothing bounds
// the sum: serve held 4 MiB per channel (~640 MiB here, 256 GiB for the
// 65,536 channels a guest may hold), outside the guest's memory limit, so
// one tenant can exhaust the server's memory for all. What should hold:
// the unread bytes of one connection (or execution) are bounded, as those
// of channels nobody took are (MaxUnheldBytes), and a send past the bound
// fails rather than growing serve.
func TestSecurityServeTenantChannelsBoundMemory(t *testing.T) {
	k := newServeKeys(t)
	key, line := k.client("c")
	p := k.start("restrict "+line, "")
	g := makeGateway(t, k.spec(p, key))
	ctx := ctxFor(t, testutil.WaitTimeout)
	ch, err := g.RemoteExec(ctx, gateway.Source("cs = channel.receive()\nchannel.send(len(cs))\nchannel.receive()\n"),
		gateway.WithTimeLimit(testutil.WaitTimeout))
	if err != nil {
		t.Fatal(err)
	}
	const n = 160
	var chans []*channel.Channel
	var values []any
	for range n {
		c, err := g.NewChannel()
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, c)
		values = append(values, c)
	}
	if err := ch.Send(values); err != nil {
		t.Fatal(err)
	}
	if v, err := ch.Receive(ctx); err != nil || v != int64(n) {
		t.Fatalf("the guest took %v channels (%v), want %d", v, err, n)
	}
	// One message of just under the window on each: each passes its
	// channel's flow control alone.
	msg := make([]byte, channel.DefaultConfig().Window-64)
	sent := 0
	for _, c := range chans {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.SendContext(sctx, msg)
		cancel()
		if err != nil {
			// Refused or blocked: a bound held.
			t.Logf("send %d: %v", sent, err)
			break
		}
		sent++
	}
	// Let serve read what was sent before its peak is taken.
	if _, err := g.RemoteStatus(ctx); err != nil {
		t.Logf("status after the sends: %v", err)
	}
	hwm := vmHWM(t, p.cmd.Process.Pid)
	t.Logf("%d of %d windows sent; serve's peak RSS %d MiB", sent, n, hwm>>20)
	if hwm > maxAgentHWM {
		t.Errorf("serve's peak RSS %d MiB after one restrict client filled %d channels its guest took and does not read", hwm>>20, sent)
	}
	p.alive(t)
}

// fillNewChannels is a guest that opens channels, sends them to its client
// in one value and then sends one message of just under a window on each.
const fillNewChannels = `cs = [newchannel() for i in range(%d)]
channel.send(cs)
s = "A" * (4 * 1024 * 1024 - 64)
for c in cs:
    c.send(s)
`

// TestSecurityGuestChannelsBoundClientMemory: the client side of the
// same break. A guest sent 120 new channels in one value and filled each
// one's window; the client held 4 MiB per channel (806 MiB for 200). What
// should hold: the unread bytes the client buffers for one gateway are
// bounded by the client's own MaxUnreadBytes, and the channels past it
// end with an error naming it.
func TestSecurityGuestChannelsBoundClientMemory(t *testing.T) {
	g := makeGateway(t, "popen")
	ctx := ctxFor(t, testutil.WaitTimeout)
	const n = 120
	var cs []any
	peak := heapPeak(func() {
		ch, err := g.RemoteExec(ctx, gateway.Source(fmt.Sprintf(fillNewChannels, n)), gateway.WithTimeLimit(testutil.WaitTimeout))
		if err != nil {
			t.Fatal(err)
		}
		v, err := ch.Receive(ctx)
		if cs, _ = v.([]any); len(cs) != n {
			t.Fatalf("the guest sent %v (%v), want %d channels", v, err, n)
		}
		// However the guest ends (a send of its may fail), every message
		// it sent has arrived by then.
		t.Logf("the guest ended: %v", ch.WaitClose(ctx))
		runtime.GC()
	})
	t.Logf("the client's in-use heap rose by %d MiB", peak>>20)
	if peak > 256<<20 {
		t.Errorf("the client's in-use heap rose by %d MiB for %d channels a guest filled", peak>>20, n)
	}
	kept, refused := 0, 0
	for _, v := range cs {
		_, err := v.(*channel.Channel).Receive(ctx)
		switch {
		case err == nil:
			kept++
		case strings.Contains(err.Error(), "MaxUnreadBytes"):
			refused++
		default:
			t.Errorf("%v: %v, want data or an error naming MaxUnreadBytes", v, err)
		}
	}
	t.Logf("%d channels kept their message, %d refused", kept, refused)
	if refused == 0 {
		t.Errorf("all %d channels kept their message", n)
	}
}
