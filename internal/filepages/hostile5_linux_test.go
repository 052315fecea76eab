package filepages

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"unsafe"

	"golang.org/x/sys/unix"
)

// Hostile pass over Drop naming the executable by device and inode.

const hostile5Helper = "WASMNET_FILEPAGES_HOSTILE5_HELPER"

// TestHostile5DropExecutableHelper is run by TestHostile5DropOddExecutable
// in a copy of the test binary; it prints the RssFile before and after a
// Drop, having first removed its own executable when asked.
func TestHostile5DropExecutableHelper(t *testing.T) {
	mode := os.Getenv(hostile5Helper)
	if mode == "" {
		t.Skip("run by TestHostile5DropOddExecutable") // a helper, not a test
	}
	if mode == "deleted" {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(exe); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	before := executableRSS(t)
	Drop()
	fmt.Printf("rssfile %d %d\n", before, executableRSS(t))
}

// TestHostile5DropOddExecutable: an agent's executable may have a space in
// its path (a home directory), or be deleted while it runs (an upgrade
// replaced ~/.cache/wasmnet/agent-*, a test's temporary directory);
// /proc/self/smaps then shows a path of several fields, or one ending in
// " (deleted)". The executable is still the one by device and inode, and
// Drop must still let its pages go.
func TestHostile5DropOddExecutable(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, file, mode string }{
		{"plain", "agent", "plain"},
		{"spaced", "agent copy", "plain"},
		{"deleted", "agent", "deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exe := filepath.Join(t.TempDir(), tc.file)
			copyFile(t, self, exe)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, exe, "-test.run=^TestHostile5DropExecutableHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), hostile5Helper+"="+tc.mode)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			var before, after int64
			found := false
			for _, line := range strings.Split(string(out), "\n") {
				if _, err := fmt.Sscanf(line, "rssfile %d %d", &before, &after); err == nil {
					found = true
				}
			}
			if !found {
				t.Fatalf("helper printed no figures:\n%s", out)
			}
			t.Logf("RssFile %d kB before, %d kB after", before, after)
			if before < 2048 || after > before*3/4 {
				t.Fatalf("RssFile %d kB before the drop, %d kB after: the executable's pages stayed", before, after)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestHostile5DropLeavesOtherFiles: a read-only private mapping of a file
// that is not the executable keeps its resident pages across a Drop.
func TestHostile5DropLeavesOtherFiles(t *testing.T) {
	page := os.Getpagesize()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, make([]byte, 64*page), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := unix.Mmap(int(f.Fd()), 0, 64*page, unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	sum := 0
	for i := 0; i < len(b); i += page {
		sum += int(b[i]) // resident
	}
	start := uint64(uintptr(unsafePointer(b)))
	before := mappingRss(t, start)
	Drop()
	after := mappingRss(t, start)
	if sum != 0 || before == 0 || after != before {
		t.Fatalf("a mapping of another file had %d kB resident before Drop and %d kB after, want it untouched", before, after)
	}
}

// mappingRss returns the Rss in kB of this process's mapping at start.
func mappingRss(t *testing.T, start uint64) int64 {
	t.Helper()
	in, found := false, false
	var rss int64
	walkSmaps(func(header []string) {
		lo, _, _ := strings.Cut(header[0], "-")
		s, _ := strconv.ParseUint(lo, 16, 64)
		in = s == start
	}, func(name, value string) {
		if in && name == "Rss:" {
			rss, _ = strconv.ParseInt(value, 10, 64)
			found, in = true, false
		}
	})
	if !found {
		t.Fatalf("no mapping at %#x", start)
	}
	return rss
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
