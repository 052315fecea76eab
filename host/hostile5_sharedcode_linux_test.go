package host

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hostile pass over an idle agent dropping the pages of the shared code
// its modules hold (releaseKept, dropSharedCode).

// withNoise returns wasm with a custom section of random bytes appended:
// another module, of another sum, with the same code.
func withNoise(wasm []byte) []byte {
	noise := make([]byte, 16)
	rand.Read(noise)
	// Section 0 (custom) of 19 bytes: a 2-byte name, then the noise.
	return append(append(append([]byte(nil), wasm...), 0, 19, 2, 'h', '5'), noise...)
}

// fileCodeMappings returns this process's executable mappings of files.
func fileCodeMappings(t *testing.T) []codeRegion {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []codeRegion
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "r-xp" || fields[4] == "0" {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil {
			out = append(out, codeRegion{uintptr(start), uintptr(end)})
		}
	}
	return out
}

// checkDropRegions checks, under the store's lock as releaseKept holds it,
// that the region each module would have dropped lies in executable
// mappings of files: the shared code of a compilation still open, not
// memory that a closed one gave back. It returns how many it checked.
func checkDropRegions(t *testing.T, s *moduleStore) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	maps := fileCodeMappings(t)
	n := 0
	for _, m := range s.mods {
		if m.compiled[unlimited] == nil || m.code.end <= m.code.start {
			continue
		}
		n++
		covered := m.code.start
		for covered < m.code.end {
			next := covered
			for _, r := range maps {
				if r.start <= covered && covered < r.end {
					next = r.end
				}
			}
			if next == covered {
				t.Errorf("module %s: the region an idle agent drops, %#x-%#x, is not mapped from a file at %#x",
					short(m.sum), m.code.start, m.code.end, covered)
				break
			}
			covered = next
		}
	}
	return n
}

// TestHostile5DroppedCodeIsLiveSharedCode: modules are run, evicted by
// others, run again, swapped for their outlines at idle, while collections
// run wazero's finalizers; at every idle release, the region each module
// in the store would madvise must be the shared code of its open
// compilation. A region of a closed compilation is memory the next mmap
// may take, which MADV_DONTNEED would zero: a crash or a wrong answer.
func TestHostile5DroppedCodeIsLiveSharedCode(t *testing.T) {
	compileHeavy(t)
	base := reactorBytes(t, "echo")
	mods := [][]byte{withNoise(base), withNoise(base), withNoise(base)}
	dir := t.TempDir()
	cfg := NewConfig().WithCompilationCacheDir(dir)
	for _, wasm := range mods {
		firstAgent(t, cfg, wasm) // prepared modules and outlines on disk
	}
	// Room for about two of them: each run of the third evicts one.
	e, err := NewEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, cfg.WithEngine(e))
	echoOnce(t, a, mods[0], "weigh")
	one := e.store.bytes
	a.exit(t)
	e.Close(context.Background())

	// Without outlines, each module is compiled in full and swapped for
	// its outline at idle; the evicted are compiled again, through it.
	paths, _ := filepath.Glob(filepath.Join(cfg.compilationCacheDir(), indexDir, "*-outline"))
	for _, p := range paths {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	e, err = NewEngine(context.Background(), cfg.WithModuleStoreLimit(one*5/2))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	a = startAgent(t, cfg.WithEngine(e))
	defer a.exit(t)
	checked := 0
	deadline := time.Now().Add(2 * time.Minute) // a hang, not a goal
	for round := 0; round < 12 && time.Now().Before(deadline); round++ {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 2 {
			wg.Go(func() {
				wasm := mods[(round+g)%len(mods)]
				if err := echoErr(a, wasm, fmt.Sprintf("round %d.%d", round, g)); err != nil {
					errs <- err
				}
			})
		}
		wg.Go(func() {
			for range 5 {
				runtime.GC() // wazero unmaps closed compilations' code in finalizers
				e.store.releaseKept(context.Background(), func() bool { return true })
				checked += checkDropRegions(t, e.store)
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	for i, wasm := range mods {
		echoOnce(t, a, wasm, fmt.Sprintf("after the rounds %d", i))
	}
	t.Logf("%d regions checked; %d evictions, %d outline swaps", checked, e.store.evictions.Load(), e.store.outlineSwaps.Load())
	if checked == 0 || e.store.outlineSwaps.Load() == 0 || e.store.evictions.Load() == 0 {
		t.Fatal("no region checked, or no swap or eviction: the test tried nothing")
	}
}

// TestHostile5ConcurrentUploadsDropLiveCode: two agents of one engine run
// the same new module at once, so that both may compile it and the store
// keeps one; the region the idle release drops is then still the kept
// compilation's shared code, and the module runs on.
func TestHostile5ConcurrentUploadsDropLiveCode(t *testing.T) {
	compileHeavy(t)
	base := reactorBytes(t, "echo")
	dir := t.TempDir()
	cfg := NewConfig().WithCompilationCacheDir(dir)
	e, err := NewEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	agents := []*testAgent{startAgent(t, cfg.WithEngine(e)), startAgent(t, cfg.WithEngine(e))}
	defer func() {
		for _, a := range agents {
			a.exit(t)
		}
	}()
	checked := 0
	for round := range 4 {
		wasm := withNoise(base)
		var wg sync.WaitGroup
		errs := make(chan error, len(agents))
		for i, a := range agents {
			wg.Go(func() {
				if err := echoErr(a, wasm, fmt.Sprintf("round %d agent %d", round, i)); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		runtime.GC()
		runtime.GC()
		e.store.releaseKept(context.Background(), func() bool { return true })
		checked += checkDropRegions(t, e.store)
		for i, a := range agents {
			echoOnce(t, a, wasm, fmt.Sprintf("after the release %d.%d", round, i))
		}
	}
	t.Logf("%d regions checked", checked)
	if checked == 0 {
		t.Fatal("no module held shared code: nothing was checked")
	}
}
