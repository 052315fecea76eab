package host

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Shared machine code: wazero reads a module's compiled code from its
// cache file into anonymous memory of each agent, 15 MB for a Go guest,
// all of it resident and private: 64 popen agents of one Go guest held
// 64 copies. After wazero has loaded it, the agent maps a file holding
// the same bytes over that memory, copy-on-write: the code is then the
// page cache's, shared by every agent of the machine, and only the pages
// a guest runs are resident (RATIONALE.md, "Why do agents share the
// compiled code of a module?"). The file's bytes are compared with the
// memory before: a mapping only ever replaces code with the same code.

// codeSharing: a load of code can be checked against the shared file.
const codeSharing = true

// regionsMu serialises the compilations that look for the code they
// added among the process's mappings, whichever agent of the process
// they are for: the one piece of state in this package that is the
// process's, as the mappings are.
var regionsMu sync.Mutex

// codeRegion is an executable anonymous mapping of this process.
type codeRegion struct{ start, end uintptr }

// codeRegions returns this process's executable anonymous mappings.
func codeRegions() map[codeRegion]bool {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[codeRegion]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode [path]
		fields := strings.Fields(sc.Text())
		if len(fields) != 5 || fields[1] != "r-xp" || fields[4] != "0" {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && end > start {
			out[codeRegion{uintptr(start), uintptr(end)}] = true
		}
	}
	return out
}

// shareCode maps the file base-<size>.exec over the largest executable
// region that is in after and not in before (the code a compilation just
// loaded, of that size), when the file holds the same bytes; else it
// writes the region there for the next agent. The size is in the name
// because the kernel may or may not merge the code with wazero's small
// code beside it: each layout has its file, and agents of different
// layouts do not rewrite each other's. It runs before any instance of
// the module exists, so that no guest runs in the region while it is
// remapped. It returns the region when the code is now shared.
func shareCode(base string, before, after map[codeRegion]bool) (codeRegion, bool) {
	path, code := newestCode(base, before, after)
	if code == nil {
		return codeRegion{}, false
	}
	switch mapSame(path, code) {
	case mapped:
		touch(path)
		return regionOf(code), true
	case differs:
		return codeRegion{}, false // this agent's code, or its layout, is another's
	}
	// None, or damaged: made anew, and mapped here too, so that this
	// agent's code is the file's as well and an idle agent can let the
	// kernel drop its pages (dropSharedCode).
	os.Remove(path)
	writeFileOnce(path, func(f *os.File) error {
		if _, err := f.Write(code); err != nil {
			return err
		}
		_, err := f.Write(binary.LittleEndian.AppendUint32(nil, crc32.Checksum(code, castagnoli)))
		return err
	})
	if mapSame(path, code) != mapped {
		return codeRegion{}, false
	}
	return regionOf(code), true
}

// regionOf returns the addresses of code, memory outside Go's heap.
func regionOf(code []byte) codeRegion {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(code)))
	return codeRegion{start, start + uintptr(len(code))}
}

// dropSharedCode lets the kernel take back the resident pages of code,
// machine code this process maps from a shared code file: a private
// mapping of a file that nothing writes, so its pages are the page
// cache's and come back from the file when a guest runs them again. An
// idle agent calls it, so that what it keeps of its modules' code costs
// no memory until it is used (RATIONALE.md, "Why does an idle agent give
// back its memory?").
//
// code must be held by a compilation that is open, and stay so during the
// call: wazero unmaps a closed compilation's code in a finalizer, at any
// time after a collection, and memory mapped at those addresses next
// would be zeroed. So the caller names the regions of the compilations
// it holds, rather than this reading the process's mappings.
func dropSharedCode(code codeRegion) {
	if code.end <= code.start {
		return
	}
	unix.Syscall(unix.SYS_MADVISE, code.start, code.end-code.start, unix.MADV_DONTNEED)
}

// sameSharedCode is shareCode for code whose origin is not known to be
// the module's (a load through its outline, outline.go): it maps the
// shared file over the new code if they hold the same bytes, and else
// writes nothing. It returns the region when the new code is the shared
// file's.
func sameSharedCode(base string, before, after map[codeRegion]bool) (codeRegion, bool) {
	path, code := newestCode(base, before, after)
	if code == nil || mapSame(path, code) != mapped {
		return codeRegion{}, false
	}
	touch(path)
	return regionOf(code), true
}

// newestCode returns the code a compilation added (the largest new
// executable region) and the path of the shared file for its size; nil
// code when there is none worth a file.
func newestCode(base string, before, after map[codeRegion]bool) (string, []byte) {
	r := newestRegion(before, after)
	size := int(r.end - r.start)
	if size < 1<<20 {
		return "", nil // none, or too small to be worth a file
	}
	// The region is not Go's memory: its address is reinterpreted, not
	// converted, so that no pointer arithmetic is implied.
	code := unsafe.Slice(*(**byte)(unsafe.Pointer(&r.start)), size)
	return base + "-" + strconv.Itoa(size) + ".exec", code
}

type mapResult int

const (
	mapped  mapResult = iota
	differs           // the file is intact and holds other bytes
	missing           // no file, or a damaged one
)

// newestRegion returns the largest range of memory executable in after
// and in no region of before. The kernel merges adjacent mappings of the
// same kind, so the new code may be part of a region that held code
// before.
func newestRegion(before, after map[codeRegion]bool) codeRegion {
	var best codeRegion
	for a := range after {
		if before[a] {
			continue
		}
		// The pieces of a that no region of before covers.
		pieces := []codeRegion{a}
		for b := range before {
			var next []codeRegion
			for _, p := range pieces {
				if b.end <= p.start || b.start >= p.end {
					next = append(next, p)
					continue
				}
				if b.start > p.start {
					next = append(next, codeRegion{p.start, b.start})
				}
				if b.end < p.end {
					next = append(next, codeRegion{b.end, p.end})
				}
			}
			pieces = next
		}
		for _, p := range pieces {
			if p.end-p.start > best.end-best.start {
				best = p
			}
		}
	}
	return best
}

// mapSame maps the file at path over code if it holds the same bytes,
// followed by their CRC-32C.
func mapSame(path string, code []byte) mapResult {
	f, err := os.Open(path)
	if err != nil {
		return missing
	}
	defer f.Close()
	n := len(code)
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(n)+4 {
		return missing
	}
	view, err := unix.Mmap(int(f.Fd()), 0, n+4, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return missing
	}
	defer unix.Munmap(view)
	if !bytes.Equal(view[:n], code) {
		if binary.LittleEndian.Uint32(view[n:]) == crc32.Checksum(view[:n], castagnoli) {
			return differs
		}
		return missing
	}
	_, err = unix.MmapPtr(int(f.Fd()), 0, unsafe.Pointer(unsafe.SliceData(code)), uintptr(n),
		unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_FIXED)
	if err != nil {
		return differs
	}
	return mapped
}
