package host

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// limitedAllocator gives each instance a linear memory that refuses to grow
// past limit bytes: wazero's memory limit is per runtime, and the limit
// here is per execution. A refused growth makes memory.grow return -1;
// the guest then usually fails, and exceeded lets the agent say why.
type limitedAllocator struct {
	limit    uint64
	pools    *memoryPools
	image    *memImage // the memory starts as this image; nil: zeros
	exceeded atomic.Bool
}

func (a *limitedAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	if a.image != nil {
		return a.image.newMemory(a, max)
	}
	return &limitedMemory{alloc: a, max: max}
}

type limitedMemory struct {
	alloc *limitedAllocator
	max   uint64
	buf   []byte
}

func (m *limitedMemory) Reallocate(size uint64) []byte {
	if size > m.alloc.limit || size > m.max {
		m.alloc.exceeded.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// Double the capacity so that a guest growing page by page copies
	// its memory only a logarithmic number of times.
	capacity := min(max(size, 2*uint64(cap(m.buf))), m.alloc.limit, m.max)
	grown := m.alloc.pools.get(size, capacity, min(m.alloc.limit, m.max))
	copy(grown, m.buf)
	m.alloc.pools.put(m.buf)
	m.buf = grown
	return m.buf
}

func (m *limitedMemory) Free() {
	m.alloc.pools.put(m.buf)
	m.buf = nil
}

// memoryPools keeps the linear memories of ended executions by capacity, a
// power of two from 64 KiB to 64 MiB, so that the next execution reuses
// warm pages instead of allocating, faulting in and later collecting a
// fresh buffer: most of what a RemoteExec of a small guest cost. A pooled
// buffer's length is the part its last user may have written, which is
// cleared before it is handed out again, so a guest always starts on
// zeroed memory. Each agent has its own.
type memoryPools [27]sync.Pool

const minPooledClass = 16

// get returns a zeroed buffer of length size and capacity at least
// capacity, and at most ceiling when capacity is rounded up to a power of two.
func (pools *memoryPools) get(size, capacity, ceiling uint64) []byte {
	class := bits.Len64(capacity - 1)
	if class < minPooledClass || class >= len(pools) || uint64(1)<<class > ceiling {
		return make([]byte, size, capacity)
	}
	if p, _ := pools[class].Get().(*[]byte); p != nil {
		b := *p
		clear(b)
		return b[:size]
	}
	return make([]byte, size, uint64(1)<<class)
}

// put gives b to the pool of its capacity, if it has one.
func (pools *memoryPools) put(b []byte) {
	c := uint64(cap(b))
	class := bits.Len64(c - 1)
	if c == 0 || c != uint64(1)<<class || class < minPooledClass || class >= len(pools) {
		return
	}
	pools[class].Put(&b)
}
