package host

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// floodGuest writes, in one fd_write to stdout, 200,000 iovecs of its
// whole 4 MiB memory each: 800 GB, more than any client drains in the
// test's lifetime.
const floodGuest = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 64)
  (func (export "_start") (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.const 200000)))
      (i32.store (i32.mul (local.get $i) (i32.const 8)) (i32.const 0))
      (i32.store (i32.add (i32.mul (local.get $i) (i32.const 8)) (i32.const 4)) (i32.const 4194304))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 200000) (i32.const 0)))))`

// TestSecurityOutputEndsAtTimeLimit: a guest outlived its run-time limit
// inside one fd_write of many iovecs, as the limit was checked only in the
// guest's own code and the agent kept sending its output. What should
// hold: the write stops at the limit and the guest ends with its error.
func TestSecurityOutputEndsAtTimeLimit(t *testing.T) {
	a := startAgent(t, NewConfig())
	ch := a.exec(t, wat(t, floodGuest), wire.ExecRequest{TimeLimit: 500 * time.Millisecond, OutputToPeer: true})
	// Only a hang reaches this bound; the write would take hours.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	v, err := ch.Receive(ctx)
	var remote *channel.RemoteError
	if !errors.As(err, &remote) || !strings.Contains(remote.Message, "run-time limit") {
		t.Fatalf("the guest ended with %v, %v; want its run-time limit's error", v, err)
	}
}
