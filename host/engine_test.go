package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// newEngine makes an engine closed when the test ends, after its agents.
func newEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := NewEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// asks reports whether a asks for wasm's bytes when asked to run it by
// its sum alone; the channel opened is closed.
func (a *testAgent) asks(t *testing.T, wasm []byte) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch, err := a.client.OpenChannel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	sum := sha256.Sum256(wasm)
	body, _ := msgpack.Marshal(&wire.ExecRequest{Module: hex.EncodeToString(sum[:]), Channel: ch.ID(), Entry: "run"})
	out, err := a.client.Call(ctx, wire.KindExec, body)
	if err != nil {
		return false
	}
	var reply wire.ExecReply
	if err := msgpack.Unmarshal(out, &reply); err != nil {
		t.Fatal(err)
	}
	return reply.NeedModule
}

// upload sends wasm's bytes, as a client does when asked for them.
func (a *testAgent) upload(wasm []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum := sha256.Sum256(wasm)
	up, _ := msgpack.Marshal(&wire.ModuleUpload{Module: hex.EncodeToString(sum[:]), Bytes: wasm})
	_, err := a.client.Call(ctx, wire.KindModule, up)
	return err
}

// keepBusy runs a guest that loops on e until the test ends, so that the
// engine never goes idle (and drops what it keeps for the next
// execution) while the test looks at what it keeps.
func keepBusy(t *testing.T, e *Engine) {
	t.Helper()
	a := startAgent(t, NewConfig().WithEngine(e).WithTenant("busy"))
	a.exec(t, wat(t, loopWat), wire.ExecRequest{TimeLimit: 10 * time.Minute})
}

const loopWat = `(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))`

// TestEngineCompilesOnce: a second connection on an engine runs a module
// the first ran without its bytes or a compilation.
func TestEngineCompilesOnce(t *testing.T) {
	e := newEngine(t, NewConfig().WithoutCompilationCache())
	a := startAgent(t, NewConfig().WithEngine(e))
	if initRefused(t, a, 0) {
		t.Fatal("growth refused under the default limit")
	}
	b := startAgent(t, NewConfig().WithEngine(e))
	if b.asks(t, growInitWasm) {
		t.Fatal("the second connection was asked for a module the engine holds")
	}
	if initRefused(t, b, 0) {
		t.Fatal("growth refused under the default limit")
	}
	if st := status(t, b); st.Compilations != 1 || st.ModuleUploads != 0 {
		t.Fatalf("%d compilations, %d uploads on the second connection; want 1 (the first's) and 0", st.Compilations, st.ModuleUploads)
	}
}

// TestEngineModuleKnownOnlyToWhoSentIt: a module one tenant sent is run for
// another only once that one has sent its bytes too, so that a sum is no
// oracle of what others run; a module that cannot run is no exception.
func TestEngineModuleKnownOnlyToWhoSentIt(t *testing.T) {
	e := newEngine(t, NewConfig().WithoutCompilationCache())
	a := startAgent(t, NewConfig().WithEngine(e).WithTenant("A"))
	initRefused(t, a, 0)
	bad := []byte("\x00asm\x01\x00\x00\x00\x05\x01")
	if err := a.upload(bad); err == nil || !strings.Contains(err.Error(), "invalid WebAssembly") {
		t.Fatalf("upload of a truncated module: %v", err)
	}

	b := startAgent(t, NewConfig().WithEngine(e).WithTenant("B"))
	for name, wasm := range map[string][]byte{"module": growInitWasm, "refused module": bad} {
		if !b.asks(t, wasm) {
			t.Fatalf("tenant B was not asked for the %s tenant A sent: its sum told B that A runs it", name)
		}
	}
	if st := status(t, b); st.ModulesCached != 0 {
		t.Fatalf("tenant B's status counts %d modules, all of them A's", st.ModulesCached)
	}
	if initRefused(t, b, 0) {
		t.Fatal("growth refused under the default limit")
	}
	if b.asks(t, growInitWasm) {
		t.Fatal("tenant B was asked again for a module it sent")
	}
	a2 := startAgent(t, NewConfig().WithEngine(e).WithTenant("A"))
	if a2.asks(t, growInitWasm) {
		t.Fatal("a new connection of tenant A was asked for a module A sent")
	}
}

// TestEngineTenantIgnoresDisk: modules one tenant left on disk (bytes and
// prepared form) are not run by sum for another tenant of a later engine,
// only for the cache's owner.
func TestEngineTenantIgnoresDisk(t *testing.T) {
	cfg := NewConfig().WithCompilationCacheDir(t.TempDir())
	first := newEngine(t, cfg)
	a := startAgent(t, cfg.WithEngine(first).WithTenant("A"))
	initRefused(t, a, 0)
	a.exit(t)
	first.Close(context.Background())

	second := newEngine(t, cfg)
	b := startAgent(t, cfg.WithEngine(second).WithTenant("B"))
	if !b.asks(t, growInitWasm) {
		t.Fatal("tenant B ran by its sum a module only tenant A sent, from the disk cache")
	}
	owner := startAgent(t, cfg.WithEngine(second))
	if owner.asks(t, growInitWasm) {
		t.Fatal("the cache's owner was asked for a module on its disk")
	}
}

// TestEngineKeptInstancePerTenant: an instance kept after one tenant's
// execution runs that tenant's next execution, never another's.
func TestEngineKeptInstancePerTenant(t *testing.T) {
	e := newEngine(t, NewConfig().WithoutCompilationCache())
	keepBusy(t, e)
	a := startAgent(t, NewConfig().WithEngine(e).WithTenant("A"))
	for range 3 { // the first takes the snapshot, the second's instance is kept
		initRefused(t, a, 0)
	}
	if status(t, a).KeptStarts == 0 {
		t.Fatal("tenant A's executions never ran on a kept instance: the test shows nothing")
	}
	b := startAgent(t, NewConfig().WithEngine(e).WithTenant("B"))
	initRefused(t, b, 0)
	if n := status(t, b).KeptStarts; n != 0 {
		t.Fatalf("tenant B's first execution ran on an instance tenant A's left (%d kept starts)", n)
	}
	a2 := startAgent(t, NewConfig().WithEngine(e).WithTenant("A"))
	initRefused(t, a2, 0)
	if status(t, a2).KeptStarts != 1 {
		t.Fatal("tenant A's new connection did not run on A's kept instance")
	}
}

// TestEngineSnapshotAcrossTenants: the snapshot of a reactor one tenant
// initialised under a small memory limit is not what another tenant's
// default execution starts from (issue 23, item 4, on one engine).
func TestEngineSnapshotAcrossTenants(t *testing.T) {
	e := newEngine(t, NewConfig().WithoutCompilationCache())
	a := startAgent(t, NewConfig().WithEngine(e).WithTenant("A"))
	if !initRefused(t, a, 64<<10) {
		t.Fatal("under a 64 KiB limit the guest's growth was not refused: the test shows nothing")
	}
	b := startAgent(t, NewConfig().WithEngine(e).WithTenant("B"))
	if initRefused(t, b, 0) {
		t.Fatal("tenant B's execution started from the state tenant A's 64 KiB initialisation left")
	}
}

// TestEngineHostileGuestCostsItself: guests that trap, loop past their
// time limit or exhaust their memory on a shared engine end with their
// own errors, while another tenant's executions, running and new, go on.
func TestEngineHostileGuestCostsItself(t *testing.T) {
	e := newEngine(t, NewConfig().WithoutCompilationCache())
	b := startAgent(t, NewConfig().WithEngine(e).WithTenant("B"))
	waiting := b.exec(t, wat(t, receiveWat), wire.ExecRequest{})
	a := startAgent(t, NewConfig().WithEngine(e).WithTenant("A"))
	hostile := []struct {
		name, src string
		req       wire.ExecRequest
		want      string
	}{
		{"trap", `(module (memory (export "memory") 1) (func (export "_start") unreachable))`, wire.ExecRequest{}, "trapped"},
		{"loop", loopWat, wire.ExecRequest{TimeLimit: 300 * time.Millisecond}, "run-time limit"},
		{"hog", `(module (memory (export "memory") 1) (func (export "_start")
			(loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable))`,
			wire.ExecRequest{MemoryLimit: 4 << 20}, "memory limit"},
	}
	for _, h := range hostile {
		ch := a.exec(t, wat(t, h.src), h.req)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := ch.Receive(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), h.want) {
			t.Fatalf("%s guest: got %v, want an error naming %q", h.name, err, h.want)
		}
	}
	if err := waiting.Send("still here"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if got, err := waiting.Receive(ctx); err != nil || got != "still here" {
		t.Fatalf("tenant B's running execution after A's hostile guests: %v, %v", got, err)
	}
	if initRefused(t, startAgent(t, NewConfig().WithEngine(e).WithTenant("B")), 0) {
		t.Fatal("growth refused under the default limit")
	}
}

// receiveWat echoes one message back: it receives into its memory and
// sends what it received.
const receiveWat = `(module
  (import "wasmnet" "channel_main" (func $main (result i32)))
  (import "wasmnet" "receive" (func $receive (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasmnet" "send" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $receive (call $main) (i32.const 64) (i32.const 1024) (i64.const -1) (i32.const 0)))
    (drop (call $send (call $main) (i32.const 64) (i32.load (i32.const 0))))))`

// TestEngineConcurrentConnections runs connections of two tenants at once
// on one engine, each executing a reactor several times: each sees the
// state a fresh instance has (run it with -race).
func TestEngineConcurrentConnections(t *testing.T) {
	e := newEngine(t, NewConfig().WithoutCompilationCache())
	const conns, execs = 4, 5
	agents := make([]*testAgent, conns)
	for i := range agents {
		agents[i] = startAgent(t, NewConfig().WithEngine(e).WithTenant(fmt.Sprint("T", i%2)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns*execs)
	for _, a := range agents {
		wg.Go(func() {
			for range execs {
				if err := a.runGrowInit(); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// runGrowInit runs growInitWasm under the default limit, uploading it
// when asked, and checks that its growth was granted; for goroutines of
// a test, where t.Fatal cannot be called.
func (a *testAgent) runGrowInit() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ch, err := a.client.OpenChannel()
	if err != nil {
		return err
	}
	defer ch.Close()
	sum := sha256.Sum256(growInitWasm)
	body, _ := msgpack.Marshal(&wire.ExecRequest{Module: hex.EncodeToString(sum[:]), Channel: ch.ID(), Entry: "run"})
	for attempt := 0; ; attempt++ {
		out, err := a.client.Call(ctx, wire.KindExec, body)
		if err != nil {
			return fmt.Errorf("exec: %w", err)
		}
		var reply wire.ExecReply
		if err := msgpack.Unmarshal(out, &reply); err != nil {
			return err
		}
		if !reply.NeedModule {
			break
		}
		if attempt > 0 {
			return fmt.Errorf("asked for the module twice")
		}
		if err := a.upload(growInitWasm); err != nil {
			return fmt.Errorf("upload: %w", err)
		}
	}
	got, err := ch.Receive(ctx)
	if err != nil || fmt.Sprint(got) != "0" {
		return fmt.Errorf("got %v, %v; want 0, a fresh instance's growth granted", got, err)
	}
	return nil
}

// TestEngineCompilesOnceForConnectionsAtOnce: connections of a tenant that
// send the same module while it compiles (the gateways of a shared agent
// starting together) wait for that compilation instead of making one
// each. Another tenant's upload of it does not wait for that tenant's
// compilation, which could be far back in that tenant's queue: it takes
// its own turn at the compile lock.
func TestEngineCompilesOnceForConnectionsAtOnce(t *testing.T) {
	e := newEngine(t, NewConfig().WithoutCompilationCache())
	s := e.store
	sum := sha256.Sum256(growInitWasm)
	hexSum := hex.EncodeToString(sum[:])
	// Held, so that the first upload waits in its compilation while the
	// others arrive.
	s.compileMu.Lock()
	const uploads = 8
	errs := make(chan error, uploads+1)
	upload := func(tenant string) {
		go func() { errs <- s.addFrom(context.Background(), tenant, hexSum, growInitWasm, true) }()
	}
	for range uploads {
		upload("T0")
	}
	testutil.WaitFor(t, "T0's uploads after the first waiting for its compilation", func() bool {
		return testutil.GoroutinesIn("host.(*moduleStore).loadTurn") == uploads-1
	})
	upload("T1")
	testutil.WaitFor(t, "T1's upload waiting for the compile lock", func() bool { return s.compileMu.waiters("T1") == 1 })
	s.compileMu.Unlock()
	for range uploads + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := s.compilations.Load(); n != 2 {
		t.Errorf("%d compilations for %d uploads of one tenant and one of another, want 2", n, uploads)
	}
	for _, tenant := range []string{"T0", "T1"} {
		m := s.lookup(context.Background(), tenant, hexSum)
		if m == nil {
			t.Fatalf("tenant %s sent the module, and the store does not run it for it", tenant)
		}
		s.release(m)
	}
}
