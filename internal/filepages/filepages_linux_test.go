package filepages

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wasmnet/wasmnet/internal/rss"
)

// rssFile returns this process's resident pages of file mappings, in kB.
func rssFile(t *testing.T) int64 {
	t.Helper()
	n, err := rss.FileSelf()
	if err != nil {
		t.Fatal(err)
	}
	return n >> 10
}

// TestDropGivesBackFilePages: the resident pages of the test
// binary's code and read-only data leave the process's RSS.
func TestDropGivesBackFilePages(t *testing.T) {
	runtime.GC() // touches the binary's type data, as an agent's collections do
	before := rssFile(t)
	Drop()
	after := rssFile(t)
	t.Logf("RssFile %d kB before, %d kB after", before, after)
	if before < 2048 || after > before*3/4 {
		t.Fatalf("RssFile %d kB before the drop, %d kB after: want under three quarters", before, after)
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
