package gateway

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/internal/starlarkwasm"
	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wire"
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
// LoadModule is never taken under the sum of what was loaded: the upload
// fails, saying why, and the agent, which checks every upload's sum, keeps
// nothing of it.
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
	if st.ModulesCached != 0 {
		t.Fatalf("the agent keeps %d modules", st.ModulesCached)
	}
}

// TestUploadHoldsNoCopy: an upload is what the agent decodes as a
// wire.ModuleUpload, read from where the module is kept as it is sent:
// however large the module, the upload allocates about one chunk of it.
func TestUploadHoldsNoCopy(t *testing.T) {
	path, b := writeNewModule(t)
	interp, err := Interpreter()
	if err != nil {
		t.Fatal(err)
	}
	want, err := starlarkwasm.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		m    Module
		want []byte
	}{
		"LoadModule":  {loadModule(t, path), b},
		"ModuleBytes": {ModuleBytes(b), b},
		"Interpreter": {interp, want},
	} {
		head, err := tc.m.uploadHead()
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, verify, err := tc.m.uploadReader()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sent := &bytes.Buffer{}
		sent.Grow(len(head) + len(tc.want))
		sent.Write(head)
		runtime.ReadMemStats(&before)
		buf := make([]byte, 64<<10) // as the mux streams it
		if _, err := io.CopyBuffer(onlyWriter{sent}, onlyReader{r}, buf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := verify(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > uint64(len(tc.want))/8 {
			t.Errorf("%s: reading an upload of %d bytes allocated %d bytes", name, len(tc.want), n)
		}
		var up wire.ModuleUpload
		if err := msgpack.Unmarshal(sent.Bytes(), &up); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if up.Module != tc.m.Sum() || !bytes.Equal(up.Bytes, tc.want) {
			t.Errorf("%s: decoded upload of %.12s, %d bytes; want %.12s, %d bytes", name, up.Module, len(up.Bytes), tc.m.Sum(), len(tc.want))
		}
	}
}

// onlyReader and onlyWriter hide ReadFrom and WriteTo, so that a copy goes
// through the caller's buffer as the mux's does.
type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }
