package host

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"

	"golang.org/x/sys/unix"
)

// preparedSupported: memory images are files an execution maps.
const preparedSupported = true

// writeMemImage writes img to path as a sparse file: only its non-zero
// pages take room. It returns the file's size and CRC-32C.
func writeMemImage(path string, img *memImage) (uint64, uint32, error) {
	page := os.Getpagesize()
	view := img.view[:img.size]
	err := writeFileOnce(path, func(f *os.File) error {
		if err := f.Truncate(int64(len(view))); err != nil {
			return err
		}
		for off := 0; off < len(view); off += page {
			if b := view[off : off+page]; !isZero(b) {
				if _, err := f.WriteAt(b, int64(off)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return uint64(len(view)), crc32.Checksum(view, castagnoli), err
}

// readPrepared maps a prepared module's files. The code is read from a
// shared read-only mapping of its file, which costs the agent no memory
// of its own; the image file becomes the module's memory image as it is.
func readPrepared(codePath, memPath, identity string) (*preparedModule, error) {
	code, err := mapFile(codePath, maxStoredModule+maxPreparedHeader)
	if err != nil {
		return nil, err
	}
	h, body, err := parsePreparedCode(code)
	if err == nil && h.identity != identity {
		err = errors.New("host: prepared module: made by another agent")
	}
	if err != nil {
		unix.Munmap(code)
		return nil, err
	}
	p := &preparedModule{code: body, mapping: code, release: func() { unix.Munmap(code) }}
	if !h.image {
		return p, nil
	}
	mem, err := openMemImage(memPath, h.memSize, h.memCRC)
	if err != nil {
		p.release()
		return nil, err
	}
	p.image = &moduleImage{globals: h.globals, reactor: h.reactor, data: mem}
	return p, nil
}

// dropResident lets the system take back the pages of a file mapping
// that were read: they stay in the page cache, and a later read maps them
// again.
func dropResident(b []byte) {
	if len(b) > 0 {
		unix.Madvise(b, unix.MADV_DONTNEED)
	}
}

// mapFile maps the file at path shared and read-only.
func mapFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 || fi.Size() > limit {
		return nil, fmt.Errorf("host: prepared module: %s: not a file of 1 to %d bytes", path, limit)
	}
	return unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
}

// openMemImage returns the memory image in the file at path, which must
// have the given size and checksum.
func openMemImage(path string, size uint64, crc uint32) (*memImage, error) {
	page := uint64(os.Getpagesize())
	if size%page != 0 || size > maxStoredModule {
		return nil, errPrepared
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || uint64(fi.Size()) != size {
		f.Close()
		return nil, errors.New("host: prepared module: image file of the wrong size")
	}
	if size == 0 {
		f.Close()
		return &memImage{}, nil
	}
	view, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, err
	}
	if crc32.Checksum(view, castagnoli) != crc {
		unix.Munmap(view)
		f.Close()
		return nil, errors.New("host: prepared module: image checksum mismatch")
	}
	dropResident(view)
	return &memImage{f: f, size: size, view: view}, nil
}

// dropViews lets the system take back the pages of img's images that
// resetting memories read: they are the page cache's or the memfd's, and
// are read again when needed.
func (img *moduleImage) dropViews() {
	if img == nil {
		return
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.data != nil {
		dropResident(img.data.view)
	}
	if img.snap != nil && img.snap.mem != nil {
		dropResident(img.snap.mem.view)
	}
}
