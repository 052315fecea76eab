//go:build wasip1

package main

import (
	"errors"
	"io"
	"os"
	"strconv"
	"unsafe"
)

// rawRead opens path relative to the first preopened directory (fd 3)
// with WASI's path_open itself, so the path reaches the host as written:
// Go's os package would clean ".." away first.
func rawRead(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("fsattack: empty path")
	}
	var fd int32
	const lookupFollow, rightsRead = 1, 1 << 1 // LOOKUP_SYMLINK_FOLLOW, RIGHT_FD_READ
	b := []byte(path)
	errno := pathOpen(3, lookupFollow, unsafe.Pointer(&b[0]), uint32(len(b)), 0, rightsRead, 0, 0, unsafe.Pointer(&fd))
	if errno != 0 {
		return nil, errors.New("path_open: errno " + strconv.Itoa(int(errno)))
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	return io.ReadAll(f)
}

//go:wasmimport wasi_snapshot_preview1 path_open
//go:noescape
func pathOpen(fd int32, dirflags uint32, path unsafe.Pointer, pathLen uint32, oflags uint32,
	rightsBase uint64, rightsInheriting uint64, fdflags uint32, newfd unsafe.Pointer) uint32
