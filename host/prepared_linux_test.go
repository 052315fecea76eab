package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// reactorBytes returns the Go example name built as a reactor.
func reactorBytes(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testwasm.GoReactor(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// echoOnce runs the Go echo reactor wasm on a, sends v and checks the echo.
func echoOnce(t *testing.T, a *testAgent, wasm []byte, v string) {
	t.Helper()
	ch := a.exec(t, wasm, wire.ExecRequest{})
	defer ch.Close()
	if err := ch.Send(v); err != nil {
		t.Fatal(err)
	}
	got, err := ch.Receive(context.Background())
	if err != nil || got != v {
		t.Fatalf("echo of %q: got %v, %v", v, got, err)
	}
}

// firstAgent runs the echo reactor wasm once on a new agent and waits
// for that agent to end, and so for what it writes to disk.
func firstAgent(t *testing.T, cfg Config, wasm []byte) {
	t.Helper()
	a := startAgent(t, cfg)
	echoOnce(t, a, wasm, "first agent")
	a.exit(t)
}

// preparedFiles returns the files of module wasm's prepared form in
// cache dir, by suffix (.code, .mem, .snap, .snapmem).
func preparedFiles(t *testing.T, dir string, wasm []byte) map[string]string {
	t.Helper()
	sum := sha256.Sum256(wasm)
	paths, _ := filepath.Glob(filepath.Join(dir, preparedDir, hex.EncodeToString(sum[:])+"-*"))
	out := map[string]string{}
	for _, p := range paths {
		out[filepath.Ext(p)] = p
	}
	return out
}

// removeModuleBytes removes the module bytes an agent keeps on disk, so
// that a later agent can start the module only from its prepared form,
// or else asks for an upload.
func removeModuleBytes(t *testing.T, dir string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(dir, modulesDir)); err != nil {
		t.Fatal(err)
	}
}

// TestPreparedModuleStartsNextAgent: a second agent on the machine starts
// a Go reactor from what the first prepared, without its bytes (they are
// removed from the disk here), from its code cache, and from the
// snapshot of its initialised runtime.
func TestPreparedModuleStartsNextAgent(t *testing.T) {
	compileHeavy(t)
	wasm := reactorBytes(t, "echo")
	dir := t.TempDir()
	cfg := NewConfig().WithCompilationCacheDir(dir)
	firstAgent(t, cfg, wasm)
	files := preparedFiles(t, dir, wasm)
	for _, ext := range []string{".code", ".mem", ".snap", ".snapmem"} {
		if files[ext] == "" {
			t.Fatalf("the first agent left no %s file of the module: %v", ext, files)
		}
	}
	removeModuleBytes(t, dir)

	b := startAgent(t, cfg)
	echoOnce(t, b, wasm, "second agent")
	st := status(t, b)
	if st.ModuleUploads != 0 || st.Compilations != 0 || st.CacheLoads != 1 {
		t.Fatalf("second agent: %d uploads, %d compilations, %d cache loads; want it all from disk",
			st.ModuleUploads, st.Compilations, st.CacheLoads)
	}
	if st.ImageStarts != 1 {
		t.Fatalf("the second agent's first execution did not start from the image on disk")
	}
	echoOnce(t, b, wasm, "second agent again")
}

// TestDamagedPreparedModuleNeverRuns damages each file of a prepared
// module in turn: the next agent never runs it, and starts the module
// from its bytes (asking the client for them, as they are removed here)
// or, for a damaged snapshot, by initialising it.
func TestDamagedPreparedModuleNeverRuns(t *testing.T) {
	compileHeavy(t)
	wasm := reactorBytes(t, "echo")
	for _, tc := range []struct{ ext, damage string }{
		{".code", "flip"}, {".mem", "flip"}, {".snap", "flip"}, {".snapmem", "truncate"},
	} {
		ext, damage := tc.ext, tc.damage
		t.Run(strings.TrimPrefix(ext, ".")+"-"+damage, func(t *testing.T) {
			dir := t.TempDir()
			cfg := NewConfig().WithCompilationCacheDir(dir)
			firstAgent(t, cfg, wasm)
			path := preparedFiles(t, dir, wasm)[ext]
			good, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := append([]byte(nil), good...)
			switch damage {
			case "flip":
				// A byte in the middle, where code or memory lies.
				bad[len(bad)/2] ^= 0x40
				if bad[len(bad)/2] == 0x40 {
					bad[len(bad)/2-1] ^= 0xff
				}
			case "truncate":
				bad = bad[:len(bad)-len(bad)/3]
			}
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			removeModuleBytes(t, dir)

			b := startAgent(t, cfg)
			echoOnce(t, b, wasm, "after damage")
			st := status(t, b)
			snapshot := ext == ".snap" || ext == ".snapmem"
			if want := map[bool]int64{false: 1, true: 0}[snapshot]; st.ModuleUploads != want {
				t.Fatalf("%d uploads, want %d: the damaged %s file was used", st.ModuleUploads, want, ext)
			}
			if snapshot && st.ImageStarts != 0 {
				t.Fatalf("the first execution was restored from a damaged snapshot")
			}
			// The agent made the files anew, good again: a third
			// agent starts from them without the module's bytes.
			b.exit(t)
			removeModuleBytes(t, dir)
			c := startAgent(t, cfg)
			echoOnce(t, c, wasm, "third agent")
			if st := status(t, c); st.ModuleUploads != 0 || st.ImageStarts != 1 {
				t.Fatalf("third agent: %d uploads, %d image starts; want the files made again used", st.ModuleUploads, st.ImageStarts)
			}
			if snapshot {
				return // its clock readings differ from agent to agent
			}
			again, err := os.ReadFile(preparedFiles(t, dir, wasm)[ext])
			if err != nil || string(again) != string(good) {
				t.Fatalf("the %s file made again differs from the first agent's (%v)", ext, err)
			}
		})
	}
}

// TestSnapshotOnDiskNeverLeaks: the imagecheck reactor writes a secret
// into its memory in the first agent's first execution (the one its
// snapshot is taken from); a second agent, restored from that snapshot
// on disk, finds no trace of it, and finds the runtime initialised once.
func TestSnapshotOnDiskNeverLeaks(t *testing.T) {
	compileHeavy(t)
	wasm := reactorBytes(t, "imagecheck")
	dir := t.TempDir()
	cfg := NewConfig().WithCompilationCacheDir(dir)
	const secret = "disk-image-secret-51c0de"
	run := func(a *testAgent, command string) map[string]any {
		ch := a.exec(t, wasm, wire.ExecRequest{})
		defer ch.Close()
		if err := ch.Send(map[string]any{"secret": secret, "command": command}); err != nil {
			t.Fatal(err)
		}
		v, err := ch.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ch.Receive(context.Background()) // the end, or the trap
		return v.(map[string]any)
	}
	first := startAgent(t, cfg)
	run(first, "write")
	run(first, "trap")
	first.exit(t) // the snapshot is written when the execution ends
	if preparedFiles(t, dir, wasm)[".snapmem"] == "" {
		t.Fatal("the first agent kept no snapshot on disk")
	}
	for i, command := range []string{"look", "write", "look"} {
		b := startAgent(t, cfg)
		got := run(b, command)
		if fmt.Sprint(got["found"], got["runs"], got["init_runs"]) != "0 1 1" {
			t.Fatalf("agent %d, %s: found state of an earlier execution: %v", i+2, command, got)
		}
		if st := status(t, b); st.ImageStarts != 1 {
			t.Fatalf("agent %d: %d executions restored from the image on disk, want 1", i+2, st.ImageStarts)
		}
	}
}

// TestPreparedModulesNotWritable: an agent whose cache directory cannot
// hold prepared modules (the name is taken by a file) runs every module
// all the same, from its bytes.
func TestPreparedModulesNotWritable(t *testing.T) {
	compileHeavy(t)
	wasm := reactorBytes(t, "echo")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, preparedDir), []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig().WithCompilationCacheDir(dir)
	echoOnce(t, startAgent(t, cfg), wasm, "first agent")
	b := startAgent(t, cfg)
	echoOnce(t, b, wasm, "second agent")
	if st := status(t, b); st.ModuleUploads != 0 || st.CacheLoads != 1 {
		t.Fatalf("second agent: %d uploads, %d cache loads; want the module from its bytes on disk", st.ModuleUploads, st.CacheLoads)
	}
}

// TestPreparedOfAnotherAgentIgnored: a prepared module is used only by an
// agent of the identity that made it (its build and settings).
func TestPreparedOfAnotherAgentIgnored(t *testing.T) {
	h := &preparedHeader{identity: "agent A"}
	dir := t.TempDir()
	code := filepath.Join(dir, "m.code")
	if err := os.WriteFile(code, newPreparedCode(h, []byte("\x00asm\x01\x00\x00\x00")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readPrepared(code, filepath.Join(dir, "m.mem"), "agent A"); err != nil {
		t.Fatalf("agent A's own prepared module: %v", err)
	}
	if _, err := readPrepared(code, filepath.Join(dir, "m.mem"), "agent B"); err == nil {
		t.Fatal("agent B used agent A's prepared module")
	}
}

// codeMapped reports whether this process runs code mapped from path.
func codeMapped(t *testing.T, path string) bool {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.Contains(line, " r-xp ") && strings.HasSuffix(line, " "+path) {
			return true
		}
	}
	return false
}

// TestCompiledCodeShared: the first agent leaves the machine code wazero
// loaded in a file; a next agent maps that file over the code it loaded,
// and runs the guest from it. A damaged file is never mapped (the guest
// runs from wazero's copy) and is made again.
func TestCompiledCodeShared(t *testing.T) {
	compileHeavy(t)
	wasm := reactorBytes(t, "echo")
	// The code of an agent that ended (of earlier tests, or the one
	// before here), of the same size, is unmapped when collected: were it
	// during a compilation here, the kernel could give its addresses to
	// the new code, which would look like code that was there before and
	// not be shared. Real agents are one per process.
	collect := func() {
		for range 3 {
			runtime.GC()
			time.Sleep(50 * time.Millisecond)
		}
	}
	collect()
	dir := t.TempDir()
	cfg := NewConfig().WithCompilationCacheDir(dir)
	sum := sha256.Sum256(wasm)
	execFiles := func() []string {
		paths, _ := filepath.Glob(filepath.Join(dir, preparedDir, hex.EncodeToString(sum[:])+"-*.exec"))
		return paths
	}
	mappedAny := func() bool {
		for _, p := range execFiles() {
			if codeMapped(t, p) {
				return true
			}
		}
		return false
	}
	// An agent whose code got the addresses of code just unmapped cannot
	// tell it from code that was there and leaves no file (likelier under
	// the race detector, whose collections lag); the agent after it does.
	for i := 0; i < 3 && len(execFiles()) == 0; i++ {
		firstAgent(t, cfg, wasm)
		collect()
	}
	if len(execFiles()) == 0 {
		t.Fatal("three agents left no file of the module's machine code")
	}
	// The file is of one layout of the code in memory (the kernel may
	// merge it with the small code beside it): an agent of another
	// layout leaves its own for the agent after.
	shared := false
	for i := 0; i < 3 && !shared; i++ {
		b := startAgent(t, cfg)
		echoOnce(t, b, wasm, "shared code")
		shared = mappedAny()
		b.exit(t)
		collect()
	}
	if !shared {
		t.Fatalf("none of three agents runs the code from the files %v", execFiles())
	}

	// A byte of the code changed: a guest running it would do something
	// else, or crash the agent.
	good := map[string]string{}
	for _, p := range execFiles() {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		good[p] = string(b)
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := startAgent(t, cfg)
	echoOnce(t, c, wasm, "damaged file")
	echoOnce(t, c, wasm, "damaged file again")
	// The agent may run the file it made again in the damaged one's
	// place, never the damaged bytes.
	for p, b := range good {
		if again, err := os.ReadFile(p); codeMapped(t, p) && (err != nil || string(again) != b) {
			t.Fatal("the agent runs the code of a damaged file")
		}
	}
	c.exit(t)
	remade := false
	for p, b := range good {
		again, err := os.ReadFile(p)
		remade = remade || err == nil && string(again) == b
	}
	if !remade {
		t.Fatal("the damaged file was not made again as it was")
	}
}

// TestIdleAgentDropsCodePages: an agent runs a module's machine code from
// the shared file, the one that compiled it too, and once idle keeps none
// of its pages resident (they are the page cache's); the next execution
// runs again.
func TestIdleAgentDropsCodePages(t *testing.T) {
	compileHeavy(t)
	wasm := reactorBytes(t, "echo")
	dir := t.TempDir()
	sum := sha256.Sum256(wasm)
	b := startAgent(t, NewConfig().WithCompilationCacheDir(dir))
	resident := func() (kb int, mapped bool) {
		paths, _ := filepath.Glob(filepath.Join(dir, preparedDir, hex.EncodeToString(sum[:])+"-*.exec"))
		for _, p := range paths {
			kb += residentOf(t, p)
			mapped = mapped || codeMapped(t, p)
		}
		return kb, mapped
	}
	for i := range 20 {
		echoOnce(t, b, wasm, fmt.Sprint("before idle ", i))
	}
	if kb, mapped := resident(); !mapped || kb == 0 {
		t.Fatalf("the compiling agent runs its code from the shared file: %v, with %d kB resident; want both", mapped, kb)
	}
	deadline := time.Now().Add(time.Minute)
	for kb, _ := resident(); kb != 0; kb, _ = resident() {
		if time.Now().After(deadline) {
			t.Fatalf("idle for a minute, the agent keeps %d kB of its code resident", kb)
		}
		time.Sleep(50 * time.Millisecond)
	}
	echoOnce(t, b, wasm, "after idle")
}

// TestNewestRegion: the code a compilation added is found when the kernel
// merged its mapping with one beside it.
func TestNewestRegion(t *testing.T) {
	old := codeRegion{0x10000, 0x20000}
	before := map[codeRegion]bool{old: true, {0x90000, 0x91000}: true}
	for _, tc := range []struct {
		after map[codeRegion]bool
		want  codeRegion
	}{
		{map[codeRegion]bool{old: true, {0x40000, 0x80000}: true}, codeRegion{0x40000, 0x80000}},
		{map[codeRegion]bool{{0x10000, 0x60000}: true}, codeRegion{0x20000, 0x60000}},
		{map[codeRegion]bool{{0x8000, 0x20000}: true}, codeRegion{0x8000, 0x10000}},
		{map[codeRegion]bool{old: true}, codeRegion{}},
	} {
		if got := newestRegion(before, tc.after); got != tc.want {
			t.Errorf("after %v: got %x, want %x", tc.after, got, tc.want)
		}
	}
}

// residentOf returns the resident kB of this process's mappings of path.
func residentOf(t *testing.T, path string) int {
	t.Helper()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	kb, in := 0, false
	for _, line := range strings.Split(string(smaps), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			in = strings.HasSuffix(line, " "+path)
		case in && len(fields) == 3 && fields[0] == "Rss:":
			var n int
			fmt.Sscan(fields[1], &n)
			kb += n
		}
	}
	return kb
}

// TestIdleAgentDropsImagePages: once idle, an agent keeps none of the
// pages of a snapshot on disk resident (they are the page cache's), and
// the next execution reads them again.
func TestIdleAgentDropsImagePages(t *testing.T) {
	compileHeavy(t)
	wasm := reactorBytes(t, "echo")
	dir := t.TempDir()
	cfg := NewConfig().WithCompilationCacheDir(dir)
	firstAgent(t, cfg, wasm)
	snapmem := preparedFiles(t, dir, wasm)[".snapmem"]
	b := startAgent(t, cfg)
	for i := range 20 {
		echoOnce(t, b, wasm, fmt.Sprint("before idle ", i))
	}
	if residentOf(t, snapmem) == 0 {
		t.Fatal("no page of the snapshot resident after 20 executions: nothing to drop")
	}
	deadline := time.Now().Add(time.Minute)
	for residentOf(t, snapmem) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("idle for a minute, the agent keeps %d kB of the snapshot resident", residentOf(t, snapmem))
		}
		time.Sleep(50 * time.Millisecond)
	}
	echoOnce(t, b, wasm, "after idle")
}
