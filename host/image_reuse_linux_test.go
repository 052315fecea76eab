package host

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reuseImage is an image of 8 pages of non-zero bytes with a hole (a page
// of zeros) at page 3.
func reuseImage(t *testing.T) (*memImage, []byte) {
	t.Helper()
	page := os.Getpagesize()
	want := make([]byte, 8*page)
	for i := range want {
		want[i] = byte(i*7 + 1)
	}
	clear(want[3*page : 4*page])
	img, err := newMemImage(want)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(img.close)
	return img, want
}

// startMemory is what wazero does for an instance: allocate, size to the
// image, grow to pages pages.
func startMemory(t *testing.T, img *memImage, pages int) (*mappedMemory, []byte) {
	t.Helper()
	return startTenantMemory(t, img, pages, "")
}

// startTenantMemory is startMemory for an execution of tenant.
func startTenantMemory(t *testing.T, img *memImage, pages int, tenant string) (*mappedMemory, []byte) {
	t.Helper()
	a := &limitedAllocator{limit: 64 << 20, pools: &memoryPools{}, image: img, tenant: tenant}
	m, ok := img.newMemory(a, 64<<20).(*mappedMemory)
	if !ok {
		t.Fatal("not a mapped memory")
	}
	m.Reallocate(img.size)
	return m, m.Reallocate(uint64(pages * os.Getpagesize()))
}

// checkFresh fails unless b is the image followed by zeros.
func checkFresh(t *testing.T, b, image []byte) {
	t.Helper()
	if !bytes.Equal(b[:len(image)], image) {
		for i := range image {
			if b[i] != image[i] {
				t.Fatalf("byte %d (page %d) is %d, the image's is %d", i, i/os.Getpagesize(), b[i], image[i])
			}
		}
	}
	for i, c := range b[len(image):] {
		if c != 0 {
			t.Fatalf("byte %d (page %d) beyond the image is %d, want 0", len(image)+i, (len(image)+i)/os.Getpagesize(), c)
		}
	}
}

// TestMemoryResetForReuse: a memory an execution wrote to, in its image
// (a data page, the hole) and beyond (pages it grew into), is handed to the
// next execution of the image as the image and zeros again.
func TestMemoryResetForReuse(t *testing.T) {
	img, image := reuseImage(t)
	page := os.Getpagesize()
	m, b := startMemory(t, img, 32)
	checkFresh(t, b, image)
	for _, p := range []int{0, 3, 7, 8, 20, 31} {
		b[p*page+5] ^= 0xff
	}
	var sum byte
	for _, c := range b[25*page : 26*page] { // read only: the zero page
		sum += c
	}
	first := unsafe.SliceData(b)
	m.Free()
	if len(img.reuse.free) != 1 {
		t.Fatal("the memory was not kept for reuse")
	}

	m, b = startMemory(t, img, 32)
	if unsafe.SliceData(b) != first || len(img.reuse.free) != 0 {
		t.Fatal("the memory was not reused")
	}
	checkFresh(t, b, image)
	// Grown less far this time, then further: what it sees is zeros.
	b[2*page] = 9
	m.Free()
	m, b = startMemory(t, img, 40)
	checkFresh(t, b, image)
	m.Free()
}

// TestMemoryNotReusedAfterLargeWrites: a memory whose execution wrote more
// than maxResetBytes is unmapped, not kept; so is one freed after its
// image closed.
func TestMemoryNotReusedAfterLargeWrites(t *testing.T) {
	img, image := reuseImage(t)
	page := os.Getpagesize()
	pages := maxResetBytes/page + 16
	m, b := startMemory(t, img, pages)
	for p := range pages {
		b[p*page] = 1
	}
	m.Free()
	if len(img.reuse.free) != 0 {
		t.Fatalf("kept a memory with %d written pages", pages)
	}

	m, b = startMemory(t, img, 16)
	checkFresh(t, b, image)
	img.close()
	m.Free()
	if len(img.reuse.free) != 0 {
		t.Fatal("kept a memory of a closed image")
	}
}

// TestMemoryNotReusedUnderMemoryMerge: where the kernel may merge this
// process's pages (KSM turned on with PR_SET_MEMORY_MERGE, which children
// inherit), written pages cannot be told apart, so no memory is reused.
func TestMemoryNotReusedUnderMemoryMerge(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_MEMORY_MERGE, 1, 0, 0, 0); err != nil {
		if errors.Is(err, unix.EINVAL) {
			t.Skipf("PR_SET_MEMORY_MERGE needs Linux 6.4 or later: %v", err)
		}
		t.Fatalf("PR_SET_MEMORY_MERGE (run as root, as CI does): %v", err)
	}
	defer unix.Prctl(unix.PR_SET_MEMORY_MERGE, 0, 0, 0, 0)
	img, image := reuseImage(t)
	m, b := startMemory(t, img, 8)
	b[0] ^= 0xff
	m.Free()
	if len(img.reuse.free) != 0 {
		t.Fatal("a memory was kept for reuse while the kernel may merge pages")
	}
	m, b = startMemory(t, img, 8)
	checkFresh(t, b, image)
	m.Free()
}

// TestReusedMemoryStaysWithTenant: a memory one tenant's execution used,
// though reset, is handed to that tenant's next execution of the image
// only, never to another tenant's (Config.WithTenant).
func TestReusedMemoryStaysWithTenant(t *testing.T) {
	img, image := reuseImage(t)
	m, b := startTenantMemory(t, img, 16, "A")
	b[5] ^= 0xff
	first := unsafe.SliceData(b)
	m.Free()
	if len(img.reuse.free) != 1 {
		t.Fatal("the memory was not kept for reuse: the test shows nothing")
	}
	m, b = startTenantMemory(t, img, 16, "B")
	if unsafe.SliceData(b) == first {
		t.Fatal("tenant B's execution got the memory tenant A's used")
	}
	checkFresh(t, b, image)
	m.Free()
	m, b = startTenantMemory(t, img, 16, "A")
	if unsafe.SliceData(b) != first {
		t.Fatal("tenant A's next execution did not get the memory A's used")
	}
	checkFresh(t, b, image)
	m.Free()
}
