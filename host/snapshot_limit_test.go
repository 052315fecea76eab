package host

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/wire"
)

// growInitWasm is a reactor whose _initialize grows its memory by a page
// and remembers whether that was refused; its export run sends what it
// remembered: 0 (grown) or 1 (refused). Built from
//
//	(module
//	  (import "wasmnet" "channel_main" (func $main (result i32)))
//	  (import "wasmnet" "send" (func $send (param i32 i32 i32) (result i32)))
//	  (memory (export "memory") 1)
//	  (global $g (mut i32) (i32.const 0))
//	  (data (i32.const 16) "\00")
//	  (func (export "_initialize")
//	    (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1))
//	      (then (i32.store8 (i32.const 16) (i32.const 1)))))
//	  (func (export "run")
//	    (drop (call $send (call $main) (i32.const 16) (i32.const 1)))))
//
// with wat2wasm.
var growInitWasm = []byte("\x00\x61\x73\x6d\x01\x00\x00\x00\x01\x0f\x03\x60\x00\x01\x7f\x60\x03\x7f\x7f\x7f\x01\x7f\x60\x00\x00\x02\x27\x02\x07\x77\x61\x73\x6d\x6e\x65\x74\x0c\x63\x68\x61\x6e\x6e\x65\x6c\x5f\x6d\x61\x69\x6e\x00\x00\x07\x77\x61\x73\x6d\x6e\x65\x74\x04\x73\x65\x6e\x64\x00\x01\x03\x03\x02\x02\x02\x05\x03\x01\x00\x01\x06\x06\x01\x7f\x01\x41\x00\x0b\x07\x1e\x03\x06\x6d\x65\x6d\x6f\x72\x79\x02\x00\x0b\x5f\x69\x6e\x69\x74\x69\x61\x6c\x69\x7a\x65\x00\x02\x03\x72\x75\x6e\x00\x03\x0a\x21\x02\x13\x00\x41\x01\x40\x00\x41\x7f\x46\x04\x40\x41\x10\x41\x01\x3a\x00\x00\x0b\x0b\x0b\x00\x10\x00\x41\x10\x41\x01\x10\x01\x1a\x0b\x0b\x07\x01\x00\x41\x10\x0b\x01\x00")

// initRefused runs growInitWasm on a under the memory limit (0: the
// agent's default) and reports whether its initialisation saw a growth
// refused.
func initRefused(t *testing.T, a *testAgent, limit uint64) bool {
	t.Helper()
	ch := a.exec(t, growInitWasm, wire.ExecRequest{Entry: "run", MemoryLimit: limit})
	defer ch.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := ch.Receive(ctx)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	// The guest returns and its channel closes; closing it first could
	// stop the guest before it returned, and a stopped instance is not
	// kept, which tests of kept instances count on under any load.
	if err := ch.WaitClose(ctx); err != nil {
		t.Fatalf("the execution did not end normally: %v", err)
	}
	switch fmt.Sprint(got) {
	case "0":
		return false
	case "1":
		return true
	}
	t.Fatalf("the guest sent %v, want 0 or 1", got)
	return false
}

// TestSnapshotNotShapedByClientLimit: a reactor initialised under one
// client's small memory limit (its growth refused) must not be the state
// the next default execution starts from, in the same agent or in the
// next one on the machine, which reads snapshots from the shared cache
// (issue 23, item 4).
func TestSnapshotNotShapedByClientLimit(t *testing.T) {
	t.Run("same agent", func(t *testing.T) {
		a := startAgent(t, NewConfig().WithCompilationCacheDir(t.TempDir()))
		if !initRefused(t, a, 64<<10) {
			t.Fatal("under a 64 KiB limit the guest's growth was not refused: the test shows nothing")
		}
		if initRefused(t, a, 0) {
			t.Fatal("a default execution started from the state the 64 KiB client's initialisation left")
		}
		if initRefused(t, a, 0) {
			t.Fatal("the second default execution started from the 64 KiB client's state")
		}
		if !initRefused(t, a, 64<<10) {
			t.Fatal("a 64 KiB execution started from the default's snapshot, not from its own initialisation")
		}
	})
	t.Run("next agent", func(t *testing.T) {
		dir := t.TempDir()
		cfg := NewConfig().WithCompilationCacheDir(dir)
		a := startAgent(t, cfg)
		if !initRefused(t, a, 64<<10) {
			t.Fatal("under a 64 KiB limit the guest's growth was not refused: the test shows nothing")
		}
		a.exit(t)
		b := startAgent(t, cfg)
		if initRefused(t, b, 0) {
			t.Fatal("the next agent's default execution started from the snapshot the 64 KiB client left on disk")
		}
	})
}
