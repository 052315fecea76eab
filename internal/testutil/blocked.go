package testutil

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/blockhook"
)

// BlockedContext returns ctx carrying a new counter of the receives
// (channel.Channel.Receive and the like) blocked with it, for WaitBlocked.
func BlockedContext(ctx context.Context) (context.Context, *blockhook.Counter) {
	c := new(blockhook.Counter)
	return blockhook.With(ctx, c), c
}

// WaitBlocked waits until n calls given c's context (BlockedContext) wait
// at their blocking point: what a test needs before it checks that
// something wakes them.
func WaitBlocked(t testing.TB, c *blockhook.Counter, n int) {
	t.Helper()
	WaitFor(t, fmt.Sprintf("%d blocked receives", n), func() bool { return c.Blocked() >= int64(n) })
}

// WaitGoroutineBlocked waits until a goroutine of this process whose
// stack holds fn (a function name as in a stack trace, such as
// "gateway.(*procConn).Read") is parked: waiting for I/O, a channel, a
// lock. It is for blocking points no hook reaches, such as a read on a
// pipe; where a call takes a context, prefer BlockedContext.
func WaitGoroutineBlocked(t testing.TB, fn string) {
	t.Helper()
	WaitFor(t, "a goroutine blocked in "+fn, func() bool { return goroutineBlocked(fn) })
}

func goroutineBlocked(fn string) bool { return GoroutinesIn(fn) > 0 }

// GoroutinesIn counts the goroutines of this process parked (waiting for
// I/O, a channel, a lock) with fn on their stack, named as in a stack
// trace: what a test waits for when several calls must reach a blocking
// point that no hook reaches.
func GoroutinesIn(fn string) int {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		// "goroutine 7 [IO wait, 2 minutes]:" then the frames.
		header, frames, _ := strings.Cut(g, "\n")
		_, state, _ := strings.Cut(header, "[")
		state, _, _ = strings.Cut(state, "]")
		state, _, _ = strings.Cut(state, ",")
		switch state {
		case "running", "runnable", "syscall", "":
			continue
		}
		if strings.Contains(frames, fn+"(") {
			count++
		}
	}
	return count
}

// A Receiver is what WaitStarted reads: a channel.Channel.
type Receiver interface {
	Receive(ctx context.Context) (any, error)
}

// WaitStarted receives the "started" item that the sleeper and spin
// guests (wasm-examples/) send once they run, and fails the test if
// anything else comes first.
func WaitStarted(t testing.TB, ch Receiver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	if v, err := ch.Receive(ctx); v != "started" || err != nil {
		t.Fatalf("guest's first item: %v, %v; want \"started\"", v, err)
	}
}
