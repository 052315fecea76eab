package host

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/host/internal/outline"
)

// outlineAgents runs the echo reactor wasm on agents of cache dir, each
// with an engine of its own as each agent process has, until one loads
// its code through the outline (at most tries), and reports whether one
// did. Agents of one test process may see their code at addresses that
// code of an engine collected meanwhile had, which hides it from the
// shared-code check: a real agent is one per process.
func outlineAgents(t *testing.T, cfg Config, wasm []byte, tries int) bool {
	t.Helper()
	for i := 0; i < tries; i++ {
		for range 3 {
			runtime.GC()
			time.Sleep(50 * time.Millisecond)
		}
		e, err := NewEngine(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		a := startAgent(t, cfg.WithEngine(e))
		echoOnce(t, a, wasm, "through the outline")
		echoOnce(t, a, wasm, "through the outline again")
		a.exit(t)
		loads := e.store.outlineLoads.Load()
		e.Close(context.Background())
		if loads > 0 {
			return true
		}
	}
	return false
}

// indexedOutline returns the cache file that the index names for the
// outline of a module, or "".
func indexedOutline(t *testing.T, dir string) string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, indexDir, "*-outline"))
	if len(paths) != 1 {
		return ""
	}
	rel, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, string(rel))
}

// cacheWithOutline returns the Go echo reactor and the configuration of a
// new cache dir in which a first agent gave the reactor's outline a cache
// file, and that file.
func cacheWithOutline(t *testing.T) (wasm []byte, cfg Config, dir, outline string) {
	t.Helper()
	compileHeavy(t)
	wasm = reactorBytes(t, "echo")
	dir = t.TempDir()
	cfg = NewConfig().WithCompilationCacheDir(dir)
	for i := 0; i < 3 && indexedOutline(t, dir) == ""; i++ {
		firstAgent(t, cfg, wasm)
	}
	if outline = indexedOutline(t, dir); outline == "" {
		t.Fatal("three agents gave the module's outline no cache file")
	}
	return wasm, cfg, dir, outline
}

// TestCodeLoadsThroughOutline: after a first agent, the next ones load a
// Go reactor's machine code through its outline, and run it.
func TestCodeLoadsThroughOutline(t *testing.T) {
	wasm, cfg, _, _ := cacheWithOutline(t)
	if !outlineAgents(t, cfg, wasm, 3) {
		t.Fatal("none of three agents loaded the code through the outline")
	}
}

// TestOutlineOfOtherCodeNeverRuns: an outline whose cache file holds code
// other than the module's (a byte changed, under a valid checksum), or
// none (wazero then compiles the empty bodies), is not run: the agent
// compiles the module itself, and the outline is made again.
func TestOutlineOfOtherCodeNeverRuns(t *testing.T) {
	wasm, cfg, dir, path := cacheWithOutline(t)
	damageCode(t, path)
	if outlineAgents(t, cfg, wasm, 1) {
		t.Fatal("an agent ran the code of an outline whose file holds other code")
	}
	if err := os.Remove(indexedOutline(t, dir)); err != nil {
		t.Fatal(err)
	}
	if outlineAgents(t, cfg, wasm, 1) {
		t.Fatal("an agent ran the code wazero compiled for the outline itself")
	}
	if !outlineAgents(t, cfg, wasm, 3) {
		t.Fatal("the outline was not made again")
	}
}

// damageCode changes a byte in the middle of the machine code in the
// wazero cache file at path, and its checksum to match, in a new file
// renamed over it (it is a link to the module's own file).
func damageCode(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := 7 + int(b[6])
	funcs := int(binary.LittleEndian.Uint32(b[at:]))
	at += 4 + 8*funcs
	n := int(binary.LittleEndian.Uint64(b[at:]))
	code := b[at+8 : at+8+n]
	code[n/2] ^= 0xff
	binary.LittleEndian.PutUint32(b[at+8+n:], crc32.Checksum(code, castagnoli))
	tmp := path + ".damaged"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestModuleWithOutlineSectionRefused: a module sent with the section
// only outlines carry is refused, so that none sent is taken for the
// outline of another's code.
func TestModuleWithOutlineSectionRefused(t *testing.T) {
	wasm := reactorBytes(t, "echo")
	custom := append([]byte{byte(len(outline.SectionName))}, outline.SectionName...)
	wasm = append(append(wasm, 0, byte(len(custom))), custom...)
	a := startAgent(t, NewConfig().WithoutCompilationCache())
	err := a.upload(wasm)
	if err == nil || !strings.Contains(err.Error(), outline.SectionName) {
		t.Fatalf("upload of a module with a %s section: %v", outline.SectionName, err)
	}
}

// TestOutlineWithoutIndex: when the index does not name the cache file of
// a module's code (other processes compiled at the same time as the
// first agent), the next agent finds the file by its machine code, and
// the agents after it load through the outline.
func TestOutlineWithoutIndex(t *testing.T) {
	wasm, cfg, dir, _ := cacheWithOutline(t)
	if err := os.RemoveAll(filepath.Join(dir, indexDir)); err != nil {
		t.Fatal(err)
	}
	if !outlineAgents(t, cfg, wasm, 3) {
		t.Fatal("without an index, no agent loaded the code through the outline")
	}
}

// TestOutlineNeverOfAnotherWazero: a cache that other wazero versions
// wrote to (test binaries, whose wazero is "dev", share the user's) holds
// files with the very same machine code under another version. An agent
// that looks for its module's code file among the cache's files (its
// index misses it, as after a rebuild) must take its own wazero's, as
// that is the only one its wazero loads: an outline made of another's was
// compiled from its empty bodies at every idle time.
func TestOutlineNeverOfAnotherWazero(t *testing.T) {
	wasm, cfg, dir, outlineFile := cacheWithOutline(t)
	code := indexedCode(t, dir)
	own := filepath.Dir(code)
	b, err := os.ReadFile(code)
	if err != nil {
		t.Fatal(err)
	}
	// Eight other versions' copies: a pick among all nine files by
	// their code alone takes one of ours once in nine.
	version := int(b[6])
	for i := range 8 {
		v := fmt.Sprintf("dev%d", i)
		other := filepath.Join(dir, fmt.Sprintf("wazero-%s-%s-%s", v, runtime.GOARCH, runtime.GOOS), filepath.Base(code))
		if err := os.MkdirAll(filepath.Dir(other), 0o700); err != nil {
			t.Fatal(err)
		}
		copied := append(append(append([]byte(nil), b[:6]...), byte(len(v))), v...)
		if err := os.WriteFile(other, append(copied, b[7+version:]...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 2 {
		// As after a rebuild: the code is in the cache, the index and
		// the outline are not.
		if err := os.RemoveAll(filepath.Join(dir, indexDir)); err != nil {
			t.Fatal(err)
		}
		os.Remove(outlineFile)
		firstAgent(t, cfg, wasm)
		if got := indexedCode(t, dir); filepath.Dir(got) != own {
			t.Fatalf("round %d: the index names %s for the module's code, a file of another wazero than %s", round, got, own)
		}
		if outlineFile = indexedOutline(t, dir); outlineFile == "" {
			t.Fatalf("round %d: the outline has no cache file", round)
		}
	}
	if !outlineAgents(t, cfg, wasm, 3) {
		t.Fatal("no agent loaded the code through the outline")
	}
}

// indexedCode returns the cache file that the index names for the code
// of the one module in cache dir (not its outline).
func indexedCode(t *testing.T, dir string) string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, indexDir, "*"))
	var found []string
	for _, p := range paths {
		if strings.HasSuffix(p, "-outline") {
			continue
		}
		rel, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, filepath.Join(dir, string(rel)))
	}
	if len(found) != 1 {
		t.Fatalf("the index names %d files for code, want 1: %v", len(found), found)
	}
	return found[0]
}
