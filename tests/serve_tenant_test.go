package tests

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// uploadsAfterEcho runs the echo guest on a new gateway to spec and returns
// how many modules that gateway had to send the server.
func uploadsAfterEcho(t *testing.T, spec string) int64 {
	t.Helper()
	g := makeGateway(t, spec)
	runEcho(t, g, []any{"tenant"})
	st, err := g.RemoteStatus(ctxFor(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	g.Exit(ctxFor(t, time.Minute))
	return st.ModuleUploads
}

// TestServeTenantsSendTheirOwnModules: the connections of one key share
// what the server compiled for that key, but a module another key ran is
// unknown to a key until it sends the bytes itself, so that no client
// learns by a module's sum what another runs (a module the server keeps
// on disk is no exception).
func TestServeTenantsSendTheirOwnModules(t *testing.T) {
	k := newServeKeys(t)
	keyA, authA := k.client("key_a")
	keyB, authB := k.client("key_b")
	serve := k.start(authA+"\n"+authB, "")
	specA, specB := k.spec(serve, keyA), k.spec(serve, keyB)
	uploadsAfterEcho(t, specA)
	if n := uploadsAfterEcho(t, specA); n != 0 {
		t.Fatalf("a second connection of key A sent the module again (%d uploads)", n)
	}
	if n := uploadsAfterEcho(t, specB); n != 1 {
		t.Fatalf("key B ran key A's module by its sum alone (%d uploads, want 1)", n)
	}
}

// growInitWat is a reactor whose _initialize grows its memory by a page;
// its export run sends 1 if that growth was refused, else 0.
const growInitWat = `(module
  (import "wasmnet" "channel_main" (func $main (result i32)))
  (import "wasmnet" "send" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (data (i32.const 16) "\00")
  (func (export "_initialize")
    (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1))
      (then (i32.store8 (i32.const 16) (i32.const 1)))))
  (func (export "run")
    (drop (call $send (call $main) (i32.const 16) (i32.const 1)))))`

// initRefusedOn runs the growInitWat reactor m on a new gateway to spec
// and reports whether its initialisation saw its growth refused.
func initRefusedOn(t *testing.T, spec string, m gateway.Module, opts ...gateway.ExecOption) bool {
	t.Helper()
	g := makeGateway(t, spec)
	defer g.Exit(ctxFor(t, time.Minute))
	ch, err := g.RemoteExec(ctxFor(t, time.Minute), m, append(opts, gateway.WithEntry("run"))...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ch.Receive(ctxFor(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return got == int64(1)
}

// TestServeSnapshotNotShapedByAnotherKey: a restricted key runs a reactor
// under a 64 KiB memory limit, which refuses the growth its _initialize
// makes; another key's default execution of the same module must start as
// if that never happened (issue 23, item 4: it started from the restricted
// client's snapshot, [1,1,...] instead of [0,41,0]).
func TestServeSnapshotNotShapedByAnotherKey(t *testing.T) {
	k := newServeKeys(t)
	keyA, authA := k.client("key_a")
	keyB, authB := k.client("key_b")
	serve := k.start("restrict "+authA+"\n"+authB, "")
	path := filepath.Join(t.TempDir(), "growinit.wasm")
	if err := os.WriteFile(path, assemble(t, growInitWat), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := gateway.LoadModule(path)
	if err != nil {
		t.Fatal(err)
	}
	if !initRefusedOn(t, k.spec(serve, keyA), m, gateway.WithMemoryLimit(64<<10)) {
		t.Fatal("under a 64 KiB limit the growth was not refused: the test shows nothing")
	}
	if initRefusedOn(t, k.spec(serve, keyB), m) {
		t.Fatal("key B's execution started from the state key A's 64 KiB initialisation left")
	}
}

func assemble(t *testing.T, src string) []byte { return testwasm.Wat(t, src) }
