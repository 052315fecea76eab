package gateway

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// TestStreamMemoryBounded sends 256 MiB to a guest that reads slower than
// the client writes: flow control must keep both processes' memory at a
// few windows over their base.
func TestStreamMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 256 MiB; skipped with -short")
	}
	g := popen(t, "popen")
	ch := remoteExec(t, g, "sink")
	base, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	clientBase := heapInUse()

	done := make(chan struct{})
	var agentPeak, clientPeak int64
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !ch.IsClosed() {
			select {
			case <-tick.C:
			case <-time.After(time.Minute):
				return
			}
			if st, err := g.RemoteStatus(testCtx(t)); err == nil {
				agentPeak = max(agentPeak, st.RSS)
			}
			clientPeak = max(clientPeak, heapInUse())
		}
	}()
	chunk := make([]byte, 1<<20)
	const total = 256 << 20
	for sent := 0; sent < total; sent += len(chunk) {
		if err := ch.SendContext(testCtx(t), chunk); err != nil {
			t.Fatal(err)
		}
	}
	ch.Send(nil)
	if v := receive(t, ch); v != int64(total) {
		t.Fatalf("guest counted %v bytes, want %d", v, total)
	}
	ch.Close()
	<-done
	const window = 4 << 20
	t.Logf("agent RSS %d MiB -> peak %d MiB; client heap %d MiB -> peak %d MiB",
		base.RSS>>20, agentPeak>>20, clientBase>>20, clientPeak>>20)
	// The guest's own Go heap grows with each 1 MiB item it decodes, so the
	// agent's allowance is a few windows plus room for that garbage.
	if limit := base.RSS + 16*window; agentPeak > limit {
		t.Errorf("agent RSS peaked at %d MiB, over %d MiB", agentPeak>>20, limit>>20)
	}
	if limit := clientBase + 8*window; clientPeak > limit {
		t.Errorf("client heap peaked at %d MiB, over %d MiB", clientPeak>>20, limit>>20)
	}
}

func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// TestModuleSentAndCompiledOnce checks content addressing: the second
// RemoteExec of a module uploads nothing and compiles nothing, and a new
// agent with the same disk cache neither compiles it nor is sent its bytes.
func TestModuleSentAndCompiledOnce(t *testing.T) {
	cache := t.TempDir()
	spec := "popen//env:XDG_CACHE_HOME=" + cache
	m := module(t, "echo")
	run := func(g *Gateway) Status {
		ch, err := g.RemoteExec(testCtx(t), m)
		if err != nil {
			t.Fatal(err)
		}
		ch.Send("x")
		receive(t, ch)
		ch.Close()
		st, err := g.RemoteStatus(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	g := popen(t, spec)
	first := run(g)
	if first.ModuleUploads != 1 || first.Compilations != 1 {
		t.Fatalf("first exec: %d uploads, %d compilations; want 1 and 1", first.ModuleUploads, first.Compilations)
	}
	second := run(g)
	if second.ModuleUploads != 1 || second.Compilations != 1 || second.UploadedBytes != first.UploadedBytes {
		t.Fatalf("second exec uploaded or compiled again: %+v", second)
	}
	if !strings.HasPrefix(second.CompileCache, cache) {
		t.Fatalf("agent's compile cache %q is not under %q", second.CompileCache, cache)
	}
	g.Exit(testCtx(t))

	fresh := run(popen(t, spec))
	if fresh.ModuleUploads != 0 {
		t.Fatalf("fresh agent with a warm cache was sent the module's bytes %d times; want 0", fresh.ModuleUploads)
	}
	if fresh.Compilations != 0 || fresh.CacheLoads != 1 {
		t.Fatalf("fresh agent with a warm cache: %d compilations, %d cache loads; want 0 and 1",
			fresh.Compilations, fresh.CacheLoads)
	}
}

// TestExitEndsPendingReceives checks that Exit wakes every waiter at once
// and leaves no agent process behind.
func TestExitEndsPendingReceives(t *testing.T) {
	g := popen(t, "popen")
	pid := g.Info().PID
	const n = 8
	errs := make(chan error, n)
	waitCtx, blocked := testutil.BlockedContext(context.Background())
	for range n {
		ch := remoteExec(t, g, "sleeper")
		testutil.WaitStarted(t, ch)
		go func() {
			_, err := ch.Receive(waitCtx)
			errs <- err
		}()
	}
	testutil.WaitBlocked(t, blocked, n)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Exit(ctx); err != nil {
		t.Fatal(err)
	}
	for range n {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatal("a pending Receive returned no error")
			}
		case <-time.After(time.Second - time.Since(start)):
			t.Fatal("a pending Receive did not return within 1 s of Exit")
		}
	}
	if testutil.ProcessRunning(pid) {
		t.Fatalf("agent %d still exists after Exit", pid)
	}
}

func TestMemoryLimit(t *testing.T) {
	g := popen(t, "popen")
	// A Go guest needs more than 1 MiB to start.
	_, err := g.RemoteExec(testCtx(t), module(t, "echo"), WithMemoryLimit(1<<20))
	if err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("got %v, want an error naming the memory limit", err)
	}
}

func TestTimeLimitStopsLoopingGuest(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "spin", WithTimeLimit(300*time.Millisecond))
	var re *channel.RemoteError
	if err := ch.WaitClose(testCtx(t)); !errors.As(err, &re) || !strings.Contains(re.Message, "run-time limit") {
		t.Fatalf("got %v, want a RemoteError naming the run-time limit", err)
	}
	// The agent and its other channels are unharmed.
	echo := remoteExec(t, g, "echo")
	echo.Send("alive")
	if v := receive(t, echo); v != "alive" {
		t.Fatalf("got %v", v)
	}
}

// TestModuleOnDiskTampered checks that a module file an agent kept on disk
// is used only if its bytes still hash to its name: a changed file makes
// the agent ask the client for the bytes, and the guest runs as sent.
func TestModuleOnDiskTampered(t *testing.T) {
	cache := t.TempDir()
	spec := "popen//env:XDG_CACHE_HOME=" + cache
	m := module(t, "echo")
	g := popen(t, spec)
	ch, err := g.RemoteExec(testCtx(t), m)
	if err != nil {
		t.Fatal(err)
	}
	ch.Close()
	g.Exit(testCtx(t))
	kept, err := filepath.Glob(filepath.Join(cache, "wasmnet", "compile", "modules", "*.wasm"))
	if err != nil || len(kept) != 1 {
		t.Fatalf("modules kept on disk: %v %v, want one", kept, err)
	}
	if err := os.WriteFile(kept[0], wasmImporting("env", "evil"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Without it, the next agent would start the module from what the
	// first prepared, and never read the module file.
	if err := os.RemoveAll(filepath.Join(cache, "wasmnet", "compile", "prepared")); err != nil {
		t.Fatal(err)
	}
	g = popen(t, spec)
	ch, err = g.RemoteExec(testCtx(t), m)
	if err != nil {
		t.Fatal(err)
	}
	ch.Send("still echo")
	if v := receive(t, ch); v != "still echo" {
		t.Fatalf("got %v", v)
	}
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.ModuleUploads != 1 {
		t.Fatalf("agent took a tampered module file: %d uploads, want 1", st.ModuleUploads)
	}
}
