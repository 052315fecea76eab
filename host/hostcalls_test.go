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

// waitGuest is a guest that waits 100 s in one host call, WAIT, then
// sends "late" and returns.
const waitGuest = `(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasmnet" "channel_main" (func $main (result i32)))
  (import "wasmnet" "send" (func $send (param i32 i32 i32) (result i32)))
  (import "wasmnet" "receive" (func $receive (param i32 i32 i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  ;; one clock subscription: tag 0 at 8, clock id 1 (monotonic) at 16,
  ;; a relative timeout of 100 s at 24
  (data (i32.const 16) "\01")
  (data (i32.const 24) "\00\e8\76\48\17\00\00\00")
  (data (i32.const 200) "\a4late")
  (func (export "_start")
    WAIT
    (drop (call $send (call $main) (i32.const 200) (i32.const 5)))))`

// TestSecurityBlockingCallsEndAtTimeLimit runs guests that wait in a host
// call far past their run-time limit: each must end with the limit's
// error, as a computing guest does, not return from the call and go on to
// send and end normally.
func TestSecurityBlockingCallsEndAtTimeLimit(t *testing.T) {
	waits := map[string]string{
		"poll_oneoff": `(drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 96)))`,
		"receive":     `(drop (call $receive (call $main) (i32.const 300) (i32.const 64) (i64.const 100000000000) (i32.const 96)))`,
	}
	a := startAgent(t, NewConfig())
	for name, wait := range waits {
		t.Run(name, func(t *testing.T) {
			wasm := wat(t, strings.Replace(waitGuest, "WAIT", wait, 1))
			ch := a.exec(t, wasm, wire.ExecRequest{TimeLimit: 500 * time.Millisecond})
			// Only a hang reaches this bound; the guest asked to wait 100 s.
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			v, err := ch.Receive(ctx)
			var remote *channel.RemoteError
			if !errors.As(err, &remote) || !strings.Contains(remote.Message, "run-time limit") {
				t.Fatalf("the guest ended with %v, %v; want its run-time limit's error", v, err)
			}
		})
	}
}
