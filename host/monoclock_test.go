package host

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// monoGuest reads the monotonic clock once and sends the reading as 8
// little-endian bytes.
const monoGuest = `(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasmnet" "channel_main" (func $main (result i32)))
  (import "wasmnet" "send" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "\c4\08")
  (func (export "_start")
    (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 202)))
    (drop (call $send (call $main) (i32.const 200) (i32.const 10)))))`

// TestSecurityMonotonicClockIsPerExecution: a guest's monotonic clock was
// the host's CLOCK_MONOTONIC, which tells the host's uptime and, read by
// two executions, whether they ran on one host. What should hold: each
// execution's clock reads monoBase when it starts and runs at the real
// rate from there, so that a reading is never past monoBase plus the time
// since the test asked for the execution.
func TestSecurityMonotonicClockIsPerExecution(t *testing.T) {
	a := startAgent(t, NewConfig())
	wasm := wat(t, monoGuest)
	for i := range 2 { // the second on a kept instance
		asked := time.Now()
		ch := a.exec(t, wasm, wire.ExecRequest{})
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
		v, err := ch.Receive(ctx)
		cancel()
		b, ok := v.([]byte)
		if err != nil || !ok || len(b) != 8 {
			t.Fatalf("execution %d sent %v, %v", i, v, err)
		}
		got := int64(binary.LittleEndian.Uint64(b))
		if since := time.Since(asked); got < monoBase || got > monoBase+int64(since) {
			t.Errorf("execution %d read the monotonic clock as %v; want %v to %v", i, time.Duration(got), time.Duration(monoBase), time.Duration(monoBase)+since)
		}
	}
}
