package gateway

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// heapAlloc returns the live heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// writeNewModule writes the echo guest under a sha256 no agent has seen
// and returns its path and bytes.
func writeNewModule(t *testing.T) (string, []byte) {
	t.Helper()
	b := withNonce(t, testwasm.Bytes(t, "echo"))
	path := filepath.Join(t.TempDir(), "echo.wasm")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b
}

// TestLoadModuleHoldsNoBytes: a loaded module costs the client its sum,
// not its bytes, and an agent that lacks it still receives them.
func TestLoadModuleHoldsNoBytes(t *testing.T) {
	path, b := writeNewModule(t)
	before := heapAlloc()
	m := loadModule(t, path)
	after := heapAlloc()
	runtime.KeepAlive(m)
	if after > before && after-before > uint64(len(b))/4 {
		t.Fatalf("a loaded module of %d bytes holds %d bytes of heap", len(b), after-before)
	}
	if m.Size() != len(b) || m.Sum() != ModuleBytes(b).Sum() || m.Name() != "echo.wasm" {
		t.Fatalf("loaded %s: %d bytes, sha256 %s", m.Name(), m.Size(), m.Sum())
	}
	g := popen(t, "popen")
	ch, err := g.RemoteExec(testCtx(t), m)
	if err != nil {
		t.Fatal(err)
	}
	ch.Send(7)
	if v := receive(t, ch); v != int64(7) {
		t.Fatalf("echo: got %#v", v)
	}
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.ModuleUploads != 1 || st.UploadedBytes != int64(len(b)) {
		t.Fatalf("the agent received %d uploads, %d bytes; want 1 of %d", st.ModuleUploads, st.UploadedBytes, len(b))
	}
}

// TestLoadModuleChangedFileNotUploaded: a module file rewritten after
// LoadModule is not sent under the sum of what was loaded.
func TestLoadModuleChangedFileNotUploaded(t *testing.T) {
	path, _ := writeNewModule(t)
	m := loadModule(t, path)
	other := withNonce(t, testwasm.Bytes(t, "echo"))
	if err := os.WriteFile(path, other, 0o644); err != nil {
		t.Fatal(err)
	}
	g := popen(t, "popen")
	ch, err := g.RemoteExec(testCtx(t), m)
	if err == nil {
		ch.Close()
		t.Fatal("RemoteExec of a module whose file changed succeeded")
	}
	if !strings.Contains(err.Error(), "changed since it was loaded") {
		t.Fatalf("RemoteExec: %v; want it to say the file changed", err)
	}
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.ModuleUploads != 0 {
		t.Fatalf("the agent received %d uploads", st.ModuleUploads)
	}
}
