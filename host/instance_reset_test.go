package host

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/wire"
)

// stateWat sends, as 40 bytes, what WASI shows it of its instance: the
// wall clock (8 bytes), random bytes (8), the sizes of its arguments and
// environment (4 x 4), whether descriptor 3 is a preopen (its errno, 4)
// and the flags of stdout (4). Then it reads the clock and random bytes a
// thousand times and asks for stdout to append, changing what a later
// execution on its instance would see if the instance kept it.
const stateWat = `(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fdstat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_set_flags" (func $setflags (param i32 i32) (result i32)))
  (import "wasmnet" "channel_main" (func $main (result i32)))
  (import "wasmnet" "send" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 98) "\c4\28")
  (func (export "_start") (local $i i32)
    (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 100)))
    (drop (call $random (i32.const 108) (i32.const 8)))
    (drop (call $args (i32.const 116) (i32.const 120)))
    (drop (call $environ (i32.const 124) (i32.const 128)))
    (i32.store (i32.const 132) (call $prestat (i32.const 3) (i32.const 400)))
    (drop (call $fdstat (i32.const 1) (i32.const 400)))
    (i32.store (i32.const 136) (i32.load16_u (i32.const 402)))
    (drop (call $send (call $main) (i32.const 98) (i32.const 42)))
    (loop $more
      (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 500)))
      (drop (call $random (i32.const 500) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 1000))))
    (drop (call $setflags (i32.const 1) (i32.const 1)))))`

// TestSecurityKeptInstanceForgetsWASIState runs a guest that reads and
// changes its WASI state several times on one agent: every execution
// after the first runs on the kept instance of the one before, and must
// read what the first read, on a fresh instance, the fake wall clock at
// its epoch included. A clock that went on from where the last execution
// left it would tell a tenant how often another read it.
func TestSecurityKeptInstanceForgetsWASIState(t *testing.T) {
	a := startAgent(t, NewConfig())
	wasm := wat(t, stateWat)
	read := func() []byte {
		t.Helper()
		ch := a.exec(t, wasm, wire.ExecRequest{})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		v, err := ch.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, ok := v.([]byte)
		if !ok || len(b) != 40 {
			t.Fatalf("the guest sent %#v", v)
		}
		return b
	}
	first := read()
	if wall := int64(binary.LittleEndian.Uint64(first)); wall != wazeroEpoch {
		t.Fatalf("a fresh instance read the wall clock %d ns after its fake epoch", wall-wazeroEpoch)
	}
	for i := range 4 {
		if got := read(); !bytes.Equal(got, first) {
			t.Fatalf("execution %d saw %x, the first %x (wall clock %+d ns)", i+2, got, first,
				int64(binary.LittleEndian.Uint64(got))-wazeroEpoch)
		}
	}
	if st := status(t, a); st.KeptStarts == 0 {
		t.Fatal("no execution ran on a kept instance")
	}
}

// wazeroEpoch is where wazero's fake wall clock starts.
var wazeroEpoch = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
