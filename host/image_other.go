//go:build !linux

package host

import "github.com/tetratelabs/wazero/experimental"

// memImage is an image of linear memory. Without memfd, each instance
// gets a copy of it in an ordinary memory.
type memImage struct {
	data []byte
}

func newMemImage(b []byte) (*memImage, error) {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return &memImage{data: append([]byte(nil), b...)}, nil
}

func (img *memImage) weight() int64 { return int64(len(img.data)) }

func (img *memImage) close() {}

func (img *memImage) releaseKept() {}

func (img *memImage) newMemory(a *limitedAllocator, max uint64) experimental.LinearMemory {
	return &copiedMemory{limitedMemory: limitedMemory{alloc: a, max: max}, img: img}
}

// copiedMemory is an ordinary memory that starts with a copy of an image.
type copiedMemory struct {
	limitedMemory
	img    *memImage
	filled bool
}

func (m *copiedMemory) Reallocate(size uint64) []byte {
	b := m.limitedMemory.Reallocate(size)
	if b != nil && !m.filled {
		copy(b, m.img.data)
		m.filled = true
	}
	return b
}
