package host

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/abi"
	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wire"
)

func wat(t *testing.T, src string) []byte { return testwasm.Wat(t, src) }

// runToEnd runs wasm once on a and returns how its channel ended: nil for
// a guest that returned.
func (a *testAgent) runToEnd(t *testing.T, wasm []byte) error {
	t.Helper()
	ch := a.exec(t, wasm, wire.ExecRequest{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := ch.Receive(ctx)
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err == nil {
		t.Fatal("the guest sent an item")
	}
	return err
}

// guestWat is a command that traps unless it runs as in a fresh instance:
// its mutable global, a variable of its data and a byte beyond its data
// hold what instantiation gave them. It then changes all three and does
// what body says.
const guestWat = `(module
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 1 4)
  (table 2 funcref)
  (elem (i32.const 0) $nop)
  (global $runs (mut i32) (i32.const 0))
  (data (i32.const 16) "\07")
  (func $nop)
  (func (export "_start")
    (global.set $runs (i32.add (global.get $runs) (i32.const 1)))
    (if (i32.ne (global.get $runs) (i32.const 1)) (then unreachable))
    (if (i32.ne (i32.load8_u (i32.const 16)) (i32.const 7)) (then unreachable))
    (if (i32.load8_u (i32.const 40000)) (then unreachable))
    (i32.store8 (i32.const 16) (i32.const 8))
    (i32.store8 (i32.const 40000) (i32.const 1))
    BODY))`

func guest(t *testing.T, body string) []byte {
	t.Helper()
	src := []byte(guestWat)
	for i := 0; i+4 <= len(src); i++ {
		if string(src[i:i+4]) == "BODY" {
			return wat(t, string(src[:i])+body+string(src[i+4:]))
		}
	}
	t.Fatal("no BODY in guestWat")
	return nil
}

// TestKeptInstanceStartsFresh runs a guest five times on one agent: the
// four runs after the first reuse its instance, and each finds the
// globals and memory it would find in a fresh one.
func TestKeptInstanceStartsFresh(t *testing.T) {
	a := startAgent(t, NewConfig())
	wasm := guest(t, "")
	for i := range 5 {
		if err := a.runToEnd(t, wasm); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	// 4, unless the agent went idle (250 ms) between two runs and
	// dropped what it kept.
	if st := status(t, a); st.KeptStarts < 1 || st.KeptStarts > 4 {
		t.Fatalf("%d runs on a kept instance, want 1 to 4", st.KeptStarts)
	}
}

// TestInstanceNotKept runs guests whose instance differs from a fresh one
// after they end in ways memory and globals do not show, or whose ending
// is not looked at: none is run again.
func TestInstanceNotKept(t *testing.T) {
	cases := map[string]string{
		"closes stdout":   "(drop (call $fd_close (i32.const 1)))",
		"closes stdin":    "(drop (call $fd_close (i32.const 0)))",
		"sets a table":    "(table.set 0 (i32.const 1) (ref.func $nop))",
		"grows memory":    "(drop (memory.grow (i32.const 1)))",
		"traps after all": "(unreachable)",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			a := startAgent(t, NewConfig())
			wasm := guest(t, body)
			for i := range 3 {
				err := a.runToEnd(t, wasm)
				if trap := name == "traps after all"; (err != nil) != trap {
					t.Fatalf("run %d: %v", i, err)
				}
			}
			if st := status(t, a); st.KeptStarts != 0 {
				t.Fatalf("%d runs on a kept instance, want none", st.KeptStarts)
			}
		})
	}
}

// TestReceiveAtEndOfInputIsClosed checks what a guest's receive returns
// when its input has ended and its execution's context has ended too:
// the client's close does both (the context through watchMain), in either
// order, and the guest must see the end of its input, not an agent that
// is unavailable (the Go echo guest panicked on that about once in a
// thousand executions).
func TestReceiveAtEndOfInputIsClosed(t *testing.T) {
	ctx := context.Background()
	clientEnd, agentEnd := net.Pipe()
	agentMux := make(chan *channel.Mux, 1)
	go func() {
		m, err := channel.NewMux(ctx, agentEnd, channel.RoleAgent, nil)
		if err != nil {
			t.Error(err)
		}
		agentMux <- m
	}()
	client, err := channel.NewMux(ctx, clientEnd, channel.RoleClient, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	agentSide := <-agentMux
	if agentSide == nil {
		t.FailNow()
	}
	defer agentSide.Close()
	ch, err := client.OpenChannel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(1); err != nil {
		t.Fatal(err)
	}
	ch.Close()
	var main *channel.Channel
	testutil.WaitFor(t, "the channel at the agent", func() bool { main = agentSide.Channel(ch.ID()); return main != nil })
	if _, err := main.ReceiveRaw(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := main.ReceiveRaw(ctx); err != io.EOF {
		t.Fatalf("after the close: %v, want io.EOF", err)
	}
	e := &execution{agent: &agent{ctx: ctx}, main: main}
	e.ctx, e.cancel = context.WithCancelCause(ctx)
	e.cancel(nil)
	if got := e.next(&handle{ch: main}, -1, func([]byte) bool { return true }); got != abi.ErrClosed {
		t.Fatalf("receive at the end of input, context ended: %v, want %v", got, abi.ErrClosed)
	}
}

// randomWat sends the 16 bytes WASI's random_get gives it, as a msgpack
// bin value.
const randomWat = `(module
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasmnet" "channel_main" (func $main (result i32)))
  (import "wasmnet" "send" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 98) "\c4\10")
  (func (export "_start")
    (drop (call $random_get (i32.const 100) (i32.const 16)))
    (drop (call $send (call $main) (i32.const 98) (i32.const 18)))))`

// TestRandomnessWithoutGrant checks what a guest not granted randomness
// reads from random_get: the same bytes in every execution, whether it
// runs on a new instance or a kept one, and not all zeros; granted, it
// reads bytes that differ.
func TestRandomnessWithoutGrant(t *testing.T) {
	a := startAgent(t, NewConfig())
	wasm := wat(t, randomWat)
	read := func(req wire.ExecRequest) string {
		t.Helper()
		ch := a.exec(t, wasm, req)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		v, err := ch.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, ok := v.([]byte)
		if !ok || len(b) != 16 {
			t.Fatalf("the guest sent %#v", v)
		}
		return string(b)
	}
	first := read(wire.ExecRequest{})
	for i := range 3 {
		if got := read(wire.ExecRequest{}); got != first {
			t.Fatalf("execution %d read %x, the first %x", i+2, got, first)
		}
	}
	if first == string(make([]byte, 16)) {
		t.Fatal("random_get gave zeros")
	}
	if st := status(t, a); st.KeptStarts == 0 {
		t.Fatal("no execution ran on a kept instance")
	}
	if read(wire.ExecRequest{Random: true}) == read(wire.ExecRequest{Random: true}) {
		t.Fatal("granted randomness read the same bytes twice")
	}
}
