package host

import (
	"bytes"
	"encoding/binary"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// memReuse keeps memories of ended executions of one image, each reset to
// the image, for the image's next executions. A fresh copy-on-write
// mapping faults on every page a guest writes, and each such fault on a
// page it read first flushes the TLB of every CPU running the agent: a
// Go guest writes a hundred pages or more even to echo one item, and
// these faults were most of what starting it cost. A reset memory keeps
// its written pages as the execution's private copies, already mapped
// writable, so that the next execution writing the same pages does not
// fault at all (RATIONALE.md, "Why are memories reset rather than mapped
// afresh?").
//
// Resetting finds the pages the execution wrote in /proc/self/pagemap:
// within the image, a page that is no longer the file's is a private copy
// and gets the image's bytes back; beyond it, a page mapped to this
// memory alone is cleared (one merely read is the kernel's shared zero
// page). Pages the execution never wrote are left alone. When pagemap
// cannot be read or does not show writes as reset expects, or the
// execution wrote more than maxResetBytes, the memory is unmapped instead.
type memReuse struct {
	mu     sync.Mutex // held while resetting, so that close waits for it
	free   []keptMemory
	bytes  uint64 // the pages written in the kept memories
	closed bool
	probed bool // usable was set
	usable bool // pagemap shows written pages as reset expects
	// pagemap is /proc/self/pagemap, open while usable.
	pagemap *os.File
}

type keptMemory struct {
	mapping []byte
	written uint64 // bytes of the pages its executions wrote
	// tenant is whose executions wrote it: though reset, it serves no
	// other (Config.WithTenant), so that a fault in reset cannot pass one
	// tenant's data to another.
	tenant string
}

const (
	// maxReused bounds the memories kept per image.
	maxReused = 4
	// maxResetBytes bounds the pages written in an image's kept
	// memories, which they hold; a memory whose execution wrote more is
	// unmapped. Resetting copies them back at memory speed, well below
	// what faulting them in again costs.
	maxResetBytes = 32 << 20
)

// pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
const (
	pmPresent = 1 << 63
	pmSwapped = 1 << 62
	pmFile    = 1 << 61 // a page of the file (or shared anonymous memory)
	pmOwn     = 1 << 56 // mapped only here (not the zero page)
)

// get returns a kept memory of exactly size bytes that tenant's
// executions used, or nil.
func (r *memReuse) get(size uint64, tenant string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range r.free {
		if uint64(len(m.mapping)) == size && m.tenant == tenant {
			r.free[i] = r.free[len(r.free)-1]
			r.free = r.free[:len(r.free)-1]
			r.bytes -= m.written
			return m.mapping
		}
	}
	return nil
}

// put resets m, whose guest (of tenant) saw its first used bytes, to img
// and keeps it. It reports false when the caller must unmap m.
func (r *memReuse) put(img *memImage, m []byte, used uint64, tenant string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.free) >= maxReused {
		return false
	}
	if !r.canResetLocked(img) {
		return false
	}
	written, ok := img.reset(r.pagemap, m, used, maxResetBytes-r.bytes)
	if !ok {
		return false
	}
	r.free = append(r.free, keptMemory{mapping: m, written: written, tenant: tenant})
	r.bytes += written
	return true
}

// canResetLocked reports whether reset works here, finding out the first
// time it is asked.
func (r *memReuse) canResetLocked(img *memImage) bool {
	if !r.probed && !r.closed {
		r.probed = true
		if f, err := os.Open("/proc/self/pagemap"); err == nil {
			if !memoryMerged() && img.pagemapShowsWrites(f) {
				r.pagemap, r.usable = f, true
			} else {
				f.Close()
			}
		}
	}
	return r.usable && !r.closed
}

// resetInPlace resets the memory m of an instance kept for reuse, whose
// guest saw its first used bytes, to img. It reports false when m wrote
// more than maxResetBytes or cannot be reset.
func (r *memReuse) resetInPlace(img *memImage, m []byte, used uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.canResetLocked(img) {
		return false
	}
	_, ok := img.reset(r.pagemap, m, used, maxResetBytes)
	return ok
}

// release unmaps the kept memories, when the agent goes idle or, with
// closing, the image is closed: then memories freed later are unmapped
// at once.
func (r *memReuse) release(closing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.free {
		unix.Munmap(m.mapping)
	}
	r.free, r.bytes = nil, 0
	r.closed = r.closed || closing
	if r.closed && r.pagemap != nil {
		r.pagemap.Close()
		r.pagemap, r.usable = nil, false
	}
}

func (r *memReuse) close() { r.release(true) }

func (img *memImage) releaseKept() { img.reuse.release(false) }

// reset brings the first used bytes of m back to the image and zeros,
// and returns the bytes of the pages it found written, unless they are
// more than limit.
func (img *memImage) reset(pagemap *os.File, m []byte, used, limit uint64) (uint64, bool) {
	page := uint64(os.Getpagesize())
	used = min((used+page-1)/page*page, uint64(len(m)))
	if used == 0 {
		return 0, true
	}
	// First find the pages written, so that a memory over the bound is
	// left untouched for unmapping.
	var dirty []uint64
	var entries [512 * 8]byte
	first := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(m)))) / page
	for p, pages := uint64(0), used/page; p < pages; {
		n := min(pages-p, uint64(len(entries)/8))
		if _, err := pagemap.ReadAt(entries[:n*8], int64((first+p)*8)); err != nil {
			return 0, false
		}
		for i := range n {
			e := binary.LittleEndian.Uint64(entries[i*8:])
			if e&(pmPresent|pmFile|pmOwn) == pmPresent|pmOwn || e&pmSwapped != 0 {
				dirty = append(dirty, p+i)
			}
		}
		if uint64(len(dirty))*page > limit {
			return 0, false
		}
		p += n
	}
	for _, p := range dirty {
		off := p * page
		b := m[off : off+page]
		switch {
		case off < img.size:
			if src := img.view[off : off+page]; !bytes.Equal(b, src) {
				copy(b, src)
			}
		case !isZero(b):
			clear(b)
		}
	}
	return uint64(len(dirty)) * page, true
}

// pagemapShowsWrites checks what reset relies on, with pages of its own:
// a page read and then written in a private mapping of the image, and one
// written beyond it, are present, not the file's, and mapped only there.
// A kernel without the last flag (before Linux 4.2) would have reset skip
// written pages, so memories are then never reused.
func (img *memImage) pagemapShowsWrites(pagemap *os.File) bool {
	page := os.Getpagesize()
	m, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false
	}
	defer unix.Munmap(m)
	if img.f != nil {
		_, err := unix.MmapPtr(int(img.f.Fd()), 0, unsafe.Pointer(unsafe.SliceData(m)), uintptr(page),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
		if err != nil {
			return false
		}
	}
	m[0] ^= 0xff // a read, then a write: the guest's common case
	m[page] = 1
	var entries [16]byte
	first := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(m)))) / uint64(page)
	if _, err := pagemap.ReadAt(entries[:], int64(first*8)); err != nil {
		return false
	}
	for i := range 2 {
		if binary.LittleEndian.Uint64(entries[i*8:])&(pmPresent|pmFile|pmOwn) != pmPresent|pmOwn {
			return false
		}
	}
	return true
}

// memoryMerged reports whether the kernel may merge this process's
// anonymous pages (KSM, which a parent can turn on with PR_SET_MEMORY_MERGE
// and children inherit): a written page merged with another would no
// longer look like this process's own, and reset would skip it.
func memoryMerged() bool {
	on, err := unix.PrctlRetInt(unix.PR_GET_MEMORY_MERGE, 0, 0, 0, 0)
	return err == nil && on != 0
}
