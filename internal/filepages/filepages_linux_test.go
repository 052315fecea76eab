package filepages

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wasmnet/wasmnet/internal/starlarkwasm"
)

// executableRSS returns the resident pages of this process's read-only
// mappings of its executable, in kB: what Drop may give back. The process's
// whole RssFile would count the C library too, which a -race build maps.
func executableRSS(t *testing.T) int64 {
	t.Helper()
	exe, ok := executable()
	if !ok {
		t.Fatal("no /proc/self/exe")
	}
	var kB int64
	counting := false
	walkSmaps(func(header []string) {
		_, _, counting = fileMapping(header, exe)
	}, func(name, value string) {
		if counting && name == "Rss:" {
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			kB += n
		}
	})
	return kB
}

// TestDropGivesBackFilePages: reading the Starlark interpreter embedded in
// the binary, as a client's upload does, brings 6.6 MB of the executable
// into the process's RSS, and Drop gives them back.
func TestDropGivesBackFilePages(t *testing.T) {
	f, err := starlarkwasm.Open()
	if err != nil {
		t.Fatal(err) // make starlark builds it
	}
	n, err := io.Copy(io.Discard, f)
	f.Close()
	if err != nil || n < 1<<20 {
		t.Fatalf("read %d bytes of the embedded interpreter: %v", n, err)
	}
	before := executableRSS(t)
	Drop()
	after := executableRSS(t)
	t.Logf("the executable's resident pages: %d kB before, %d kB after; the interpreter is %d kB", before, after, n>>10)
	if before-after < n>>10/2 {
		t.Fatalf("the executable's resident pages: %d kB before the drop, %d kB after: want at least half the interpreter's %d kB given back", before, after, n>>10)
	}
}

// TestDropKeepsPrivateCopies: a read-only private file mapping
// with a page the process changed before it made the mapping read-only
// (as the dynamic loader does with relocated data) keeps the change.
func TestDropKeepsPrivateCopies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	page := os.Getpagesize()
	if err := os.WriteFile(path, make([]byte, 4*page), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := unix.Mmap(int(f.Fd()), 0, 4*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	b[page] = 42
	if err := unix.Mprotect(b, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	Drop()
	if b[page] != 42 {
		t.Fatalf("the changed byte reads %d after the drop, want 42", b[page])
	}
}
