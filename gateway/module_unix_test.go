//go:build unix

package gateway

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestLoadModuleFromPipe: a module read from a pipe (wasmnet run <(...)),
// which cannot be read again, is kept and uploaded from memory.
func TestLoadModuleFromPipe(t *testing.T) {
	b := withNonce(t, testwasm.Bytes(t, "echo"))
	path := filepath.Join(t.TempDir(), "fifo.wasm")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.Write(b)
			f.Close()
		}
		wrote <- err
	}()
	m := loadModule(t, path)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if m.Sum() != ModuleBytes(b).Sum() {
		t.Fatalf("sha256 %s, want %s", m.Sum(), ModuleBytes(b).Sum())
	}
	g := popen(t, "popen")
	ch, err := g.RemoteExec(testCtx(t), m)
	if err != nil {
		t.Fatal(err)
	}
	ch.Send(5)
	if v := receive(t, ch); v != int64(5) {
		t.Fatalf("echo: got %#v", v)
	}
}
