package filepages

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHostile4DropSparesMemoryMappedMeanwhile: Drop reads the process's
// mappings and then madvises the ranges it found; a library user (or an
// in-process agent's compiler) unmaps a read-only file mapping meanwhile
// and gets fresh anonymous memory at the same addresses, as the kernel
// hands out the hole just freed. What the user writes there must stay: a
// MADV_DONTNEED meant for the file mapping would zero it. Many Drops run
// at once, as when many gateways finish uploading the interpreter.
func TestHostile4DropSparesMemoryMappedMeanwhile(t *testing.T) {
	page := os.Getpagesize()
	size := 64 * page
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, bytes.Repeat([]byte{7}, size), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000 && !stop.Load(); i++ {
				Drop()
			}
		}()
	}
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()

	deadline := time.Now().Add(3 * time.Second)
	reused, zeroed := 0, 0
	for i := 0; i < 200000 && time.Now().Before(deadline); i++ {
		m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_PRIVATE)
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < size; j += page {
			_ = m[j] // resident, so that Drop has something to drop
		}
		addr := &m[0]
		if err := unix.Munmap(m); err != nil {
			t.Fatal(err)
		}
		a, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			t.Fatal(err)
		}
		if &a[0] == addr {
			reused++
		}
		for j := 0; j < size; j += page {
			a[j] = 0xab
		}
		for range 50 { // a while for a stale madvise to land
			for j := 0; j < size; j += page {
				if a[j] != 0xab {
					zeroed++
					break
				}
			}
		}
		unix.Munmap(a)
		if zeroed > 0 {
			break
		}
	}
	t.Logf("%d remaps at the address just unmapped", reused)
	if zeroed > 0 {
		t.Fatalf("memory mapped after a file mapping at its addresses was zeroed by a concurrent Drop")
	}
}
