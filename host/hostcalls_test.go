package host

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// openFIFOWat opens "fifo" in its first directory grant for reading, then
// for writing, reads its stdin, and sends what it got as 12 bytes: the
// errno of each open and the bytes stdin gave it.
const openFIFOWat = `(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasmnet" "channel_main" (func $main (result i32)))
  (import "wasmnet" "send" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "fifo")
  (data (i32.const 32) "\00\01\00\00\00\01\00\00") ;; an iovec: 256 bytes at 256
  (data (i32.const 98) "\c4\0c")
  (func (export "_start")
    (i32.store (i32.const 100) (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 4)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 80)))
    (i32.store (i32.const 104) (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 4)
      (i32.const 0) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 80)))
    (drop (call $read (i32.const 0) (i32.const 32) (i32.const 1) (i32.const 108)))
    (drop (call $send (call $main) (i32.const 98) (i32.const 14)))))`

// TestSecurityGrantOpensNoFIFO runs a guest that opens a FIFO in its
// directory grant, which no one else opens: opening it would wait for
// the other end for ever, past any limit of the execution, holding its
// slot. The guest is refused at once (EACCES) both ways, and its stdin
// reads as empty rather than waiting.
func TestSecurityGrantOpensNoFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Frees an agent blocked in the open, when the test fails.
		if f, err := os.OpenFile(fifo, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	a := startAgent(t, NewConfig())
	ch := a.exec(t, wat(t, openFIFOWat), wire.ExecRequest{
		TimeLimit: time.Minute,
		Dirs:      []wire.DirGrant{{Host: dir, Guest: "/g"}},
	})
	// Only a hang reaches this bound.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	v, err := ch.Receive(ctx)
	if err != nil {
		t.Fatalf("the guest ended with %v", err)
	}
	b, ok := v.([]byte)
	if !ok || len(b) != 12 {
		t.Fatalf("the guest sent %#v", v)
	}
	const eacces = 2 // WASI's errno
	readErr, writeErr, stdin := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
	if readErr != eacces || writeErr != eacces || stdin != 0 {
		t.Fatalf("opening the FIFO to read: errno %d, to write: errno %d; stdin gave %d bytes; want %d, %d, 0", readErr, writeErr, stdin, eacces, eacces)
	}
}
