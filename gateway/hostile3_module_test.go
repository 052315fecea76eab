//go:build linux

package gateway

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// uniqueEcho writes the echo guest with a custom section of random bytes
// to a file of its own: a module no agent has kept, so that running it
// uploads it.
func uniqueEcho(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(testwasm.Go(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 16)
	rand.Read(noise)
	// Section 0 (custom) of 19 bytes: a 2-byte name, then the noise.
	b = append(b, append([]byte{0, 19, 2, 'h', '3'}, noise...)...)
	path := filepath.Join(t.TempDir(), "echo.wasm")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHostile3ModuleFileChangedBeforeUpload changes a loaded module's file
// before the upload reads it again: truncated, grown, rewritten with other
// bytes of its size, removed, or replaced by a FIFO. The exec fails within
// its context with an error that says so, and the gateway serves on.
func TestHostile3ModuleFileChangedBeforeUpload(t *testing.T) {
	changes := map[string]func(t *testing.T, path string){
		"truncated": func(t *testing.T, path string) { os.Truncate(path, 100) },
		"grown": func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte{0, 3, 1, 'x', 'y'})
			f.Close()
		},
		"rewritten": func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[len(b)-1] ^= 0xff
			os.WriteFile(path, b, 0o644)
		},
		"removed": func(t *testing.T, path string) { os.Remove(path) },
		"fifo": func(t *testing.T, path string) {
			os.Remove(path)
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
	g := popen(t, "popen")
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			path := uniqueEcho(t)
			m := loadModule(t, path)
			change(t, path)
			err := refusedAtOnce(t, g, name+" module file", m)
			if msg := err.Error(); !strings.Contains(msg, "changed") && !strings.Contains(msg, "no such file") {
				t.Errorf("%s module file: %v, want an error that says it changed", name, err)
			}
			echoOnce(t, g, "still serving")
		})
	}
}

// refusedAtOnce runs m on g, which must refuse it, and returns the error:
// the test fails if it ran, or if the refusal waited for its context.
func refusedAtOnce(t *testing.T, g *Gateway, what string, m Module) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang, not a goal
	defer cancel()
	ch, err := g.RemoteExec(ctx, m)
	if err == nil {
		ch.Close()
		t.Fatalf("%s: RemoteExec succeeded", what)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s: RemoteExec waited for its context: %v", what, err)
	}
	return err
}

// TestHostile3LoadModuleFromEndlessPipe: LoadModule of a pipe (wasmnet run
// <(...)) that yields no WebAssembly header, and would go on yielding: it
// is refused once its first bytes are read, not after reading, and
// holding, whatever the pipe's writer cares to send (a careless
// `wasmnet run /dev/zero` would never end).
func TestHostile3LoadModuleFromEndlessPipe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	const offered = 64 << 20 // bounded, for the test's sake
	written := make(chan int, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			written <- 0
			return
		}
		defer f.Close()
		chunk := make([]byte, 64<<10)
		n := 0
		for n < offered {
			k, err := f.Write(chunk)
			n += k
			if err != nil {
				break
			}
		}
		written <- n
	}()
	_, err := LoadModule(path)
	if err == nil || !strings.Contains(err.Error(), "not a WebAssembly module") {
		t.Errorf("LoadModule of a pipe of zeros: %v, want it refused as not WebAssembly", err)
	}
	// The writer ends once LoadModule closed the pipe.
	var n int
	select {
	case n = <-written:
	case <-time.After(time.Minute): // a hang, not a goal
		t.Fatal("the pipe's writer still writes a minute after LoadModule returned")
	}
	if n > 1<<20 {
		t.Errorf("LoadModule read %d MiB of a pipe of zeros before refusing it", n>>20)
	}
}
