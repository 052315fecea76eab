//go:build unix

package host

import (
	"syscall"
)

const pageSize = 65536

// reserve maps size bytes of anonymous memory, rounded up to whole wasm
// pages, that the kernel backs only as they are touched.
func reserve(size uint64) []byte {
	size = (size + pageSize - 1) &^ (pageSize - 1)
	if size == 0 {
		size = pageSize
	}
	b, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|mapNoReserve)
	if err != nil {
		return nil
	}
	return b[:0]
}

func release(b []byte) { syscall.Munmap(b[:cap(b)]) }
