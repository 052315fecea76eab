//go:build linux

package gateway

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestHostile5ModuleFileSwappedBeforeUpload swaps a loaded module's file,
// before the upload opens it again, for what opening would hang on, cost
// or mislead: a directory, a unix socket, a symlink to a FIFO, to a
// FIFO with a writer that never writes, to /dev/zero, and to another
// module of the same size. Each exec fails within its context (the last
// one for its bytes that no longer hash to the sum), and the gateway
// serves on.
func TestHostile5ModuleFileSwappedBeforeUpload(t *testing.T) {
	swaps := map[string]func(t *testing.T, path string){
		"directory": func(t *testing.T, path string) {
			os.Remove(path)
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		},
		"socket": func(t *testing.T, path string) {
			os.Remove(path)
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		},
		"symlink to fifo": func(t *testing.T, path string) {
			fifo := filepath.Join(t.TempDir(), "fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			symlinkOver(t, fifo, path)
		},
		"fifo with a silent writer": func(t *testing.T, path string) {
			fifo := filepath.Join(t.TempDir(), "fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			// O_RDWR opens a FIFO without waiting: a writer that never writes.
			w, err := os.OpenFile(fifo, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.Close() })
			symlinkOver(t, fifo, path)
		},
		"symlink to /dev/zero": func(t *testing.T, path string) { symlinkOver(t, "/dev/zero", path) },
		"symlink to another module": func(t *testing.T, path string) {
			other := uniqueEcho(t) // same size, other noise
			symlinkOver(t, other, path)
		},
	}
	g := popen(t, "popen")
	for name, swap := range swaps {
		t.Run(name, func(t *testing.T) {
			path := uniqueEcho(t)
			m := loadModule(t, path)
			swap(t, path)
			t.Logf("%s: %v", name, refusedAtOnce(t, g, name, m))
			echoOnce(t, g, "still serving")
		})
	}
}

// symlinkOver replaces path by a symbolic link to target.
func symlinkOver(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}
