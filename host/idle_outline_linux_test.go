package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/wire"
)

// fullEngine returns an engine of cache dir cfg and an agent on it that
// ran the echo reactor wasm once, compiled in full: the outline the disk
// cache may hold is removed first, so that the engine compiles the module
// itself (and makes the outline again).
func fullEngine(t *testing.T, cfg Config, wasm []byte) (*Engine, *testAgent) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(cfg.compilationCacheDir(), indexDir, "*-outline"))
	for _, p := range paths {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	e, err := NewEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	a := startAgent(t, cfg.WithEngine(e))
	echoOnce(t, a, wasm, "compiled in full")
	if e.store.outlineLoads.Load() != 0 {
		t.Fatal("the module was loaded through an outline, not compiled in full")
	}
	return e, a
}

// waitSwaps waits, at most 10 s, for e to have swapped n modules at idle.
func waitSwaps(e *Engine, n int64) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if e.store.outlineSwaps.Load() >= n {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestIdleSwapsFullCompilationForOutline: a module an agent compiled in
// full keeps only its outline's compilation once the agent idles, and
// still runs and answers right afterwards, on its kept image and
// instances as before.
func TestIdleSwapsFullCompilationForOutline(t *testing.T) {
	compileHeavy(t)
	wasm := reactorBytes(t, "echo")
	dir := t.TempDir()
	cfg := NewConfig().WithCompilationCacheDir(dir)
	firstAgent(t, cfg, wasm) // writes the prepared module and the outline
	swapped := false
	// Code of an engine collected meanwhile can hide a load's code from
	// the shared-code check in one test process (outlineAgents): tried
	// on a few engines.
	for i := 0; i < 3 && !swapped; i++ {
		e, a := fullEngine(t, cfg, wasm)
		swapped = waitSwaps(e, 1)
		for j := range 3 {
			echoOnce(t, a, wasm, fmt.Sprintf("after the idle swap %d", j))
		}
		a.exit(t)
	}
	if !swapped {
		t.Fatal("no module compiled in full was swapped for its outline at idle")
	}
}

// TestIdleSwapRacesExecs: executions that start while the idle release
// swaps their module's compilation run on one compilation or the other,
// and answer right.
func TestIdleSwapRacesExecs(t *testing.T) {
	wasm := reactorBytes(t, "echo")
	dir := t.TempDir()
	cfg := NewConfig().WithCompilationCacheDir(dir)
	firstAgent(t, cfg, wasm)
	var swaps int64
	for round := 0; round < 4; round++ {
		e, a := fullEngine(t, cfg, wasm)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		// The release is tried again until it swaps, as an idle agent
		// does; each execution begins a little later than the last, so
		// that some start during a swap and some after it.
		wg.Go(func() {
			for i := 0; i < 50 && e.store.outlineSwaps.Load() == 0; i++ {
				e.store.releaseKept(context.Background(), func() bool { return true })
				time.Sleep(2 * time.Millisecond)
			}
		})
		for g := range 4 {
			wg.Go(func() {
				for i := range 4 {
					time.Sleep(time.Duration(g+4*i) * time.Millisecond)
					if err := echoErr(a, wasm, fmt.Sprintf("racing %d.%d", g, i)); err != nil {
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
		echoOnce(t, a, wasm, "after the race")
		a.exit(t)
		swaps += e.store.outlineSwaps.Load()
	}
	if swaps == 0 {
		// The race is real only if the release swapped at least once.
		t.Fatal("the release swapped no module in four rounds")
	}
}

// echoErr is echoOnce for goroutines other than the test's.
func echoErr(a *testAgent, wasm []byte, v string) error {
	ch, err := a.execErr(wasm, wire.ExecRequest{})
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Send(v); err != nil {
		return err
	}
	got, err := ch.Receive(context.Background())
	if err != nil || got != v {
		return fmt.Errorf("echo of %q: got %v, %v", v, got, err)
	}
	return nil
}
