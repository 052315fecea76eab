package host

import (
	"bytes"
	"fmt"
	"os"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// memImage is an image of linear memory in a memfd, written once. Pages
// that are zero are left as holes, so they cost no memory. An execution
// maps it MAP_PRIVATE: the pages it reads are shared with every other
// execution, the pages it writes are its own copies, and unmapping them
// gives them back to the system at once.
type memImage struct {
	f    *os.File // nil for an all-zero image
	size uint64   // bytes in the file, a multiple of the system's page size
	view []byte   // the file mapped shared and read-only, to reset memories from

	// reuse keeps memories of ended executions, reset to the image
	// (image_reuse_linux.go).
	reuse memReuse
}

func newMemImage(b []byte) (*memImage, error) {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return &memImage{}, nil
	}
	page := os.Getpagesize()
	size := (len(b) + page - 1) / page * page
	fd, err := unix.MemfdCreate("wasmnet-image", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("host: image: %w", err)
	}
	f := os.NewFile(uintptr(fd), "wasmnet-image")
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("host: image: %w", err)
	}
	// Write runs of non-zero pages; the rest of the file reads as zeros.
	for off := 0; off < len(b); {
		for off < len(b) && isZero(b[off:min(off+page, len(b))]) {
			off += page
		}
		end := off
		for end < len(b) && !isZero(b[end:min(end+page, len(b))]) {
			end += page
		}
		if end > off {
			if _, err := f.WriteAt(b[off:min(end, len(b))], int64(off)); err != nil {
				f.Close()
				return nil, fmt.Errorf("host: image: %w", err)
			}
		}
		off = end
	}
	view, err := unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("host: image: %w", err)
	}
	return &memImage{f: f, size: uint64(size), view: view}, nil
}

// weight is the image's size in bytes (its holes included).
func (img *memImage) weight() int64 { return int64(img.size) }

func (img *memImage) close() {
	img.reuse.close()
	if img.f != nil {
		unix.Munmap(img.view)
		img.f.Close()
	}
}

var zeroPage [64 << 10]byte

func isZero(b []byte) bool {
	for len(b) > len(zeroPage) {
		if !bytes.Equal(b[:len(zeroPage)], zeroPage[:]) {
			return false
		}
		b = b[len(zeroPage):]
	}
	return bytes.Equal(b, zeroPage[:len(b)])
}

// newMemory maps a fresh memory for one instance: the image, then zeros,
// reserved up to the instance's limit so that it never moves when it grows.
func (img *memImage) newMemory(a *limitedAllocator, max uint64) experimental.LinearMemory {
	page := uint64(os.Getpagesize())
	reserve := (min(a.limit, max) + page - 1) / page * page
	reserve = max64(reserve, img.size)
	if m := img.reuse.get(reserve, a.tenant); m != nil {
		return &mappedMemory{alloc: a, max: max, mapping: m, img: img}
	}
	m, err := unix.Mmap(-1, 0, int(reserve), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err == nil && img.size > 0 {
		_, err = unix.MmapPtr(int(img.f.Fd()), 0, unsafe.Pointer(unsafe.SliceData(m)), uintptr(img.size),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
		if err != nil {
			unix.Munmap(m)
		}
	}
	if err != nil {
		// Out of address space: copy the image into an ordinary memory.
		return &copiedMemory{limitedMemory: limitedMemory{alloc: a, max: max}, img: img}
	}
	return &mappedMemory{alloc: a, max: max, mapping: m, img: img}
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// mappedMemory is a linear memory in a mapping of its own.
type mappedMemory struct {
	alloc   *limitedAllocator
	max     uint64
	mapping []byte
	img     *memImage
	used    uint64 // the largest size handed out: the guest wrote nothing beyond
}

func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > m.alloc.limit || size > m.max || size > uint64(len(m.mapping)) {
		m.alloc.exceeded.Store(true)
		return nil
	}
	m.used = max64(m.used, size)
	return m.mapping[:size]
}

// Free gives the mapping to the image's next execution, reset to the
// image, or unmaps it.
func (m *mappedMemory) Free() {
	if m.mapping == nil {
		return
	}
	if !m.img.reuse.put(m.img, m.mapping, m.used, m.alloc.tenant) {
		unix.Munmap(m.mapping)
	}
	m.mapping = nil
}

// resetInPlace brings the memory back to its image, keeping its mapping.
func (m *mappedMemory) resetInPlace() bool {
	return m.mapping != nil && m.img.reuse.resetInPlace(m.img, m.mapping, m.used)
}

// setAllocator makes the memory's growth count against a's limit: the
// limit of the execution its instance runs next.
func (m *mappedMemory) setAllocator(a *limitedAllocator) { m.alloc = a }

// copiedMemory is an ordinary memory that starts with a copy of an image.
type copiedMemory struct {
	limitedMemory
	img    *memImage
	filled bool
}

func (m *copiedMemory) Reallocate(size uint64) []byte {
	b := m.limitedMemory.Reallocate(size)
	if b != nil && !m.filled && m.img.f != nil {
		m.img.f.ReadAt(b[:min(uint64(len(b)), m.img.size)], 0)
		m.filled = true
	}
	return b
}
