package host

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// limitedAllocator gives each instance a linear memory that refuses to grow
// past limit bytes: wazero's memory limit is per runtime, and the limit
// here is per execution. A refused growth makes memory.grow return -1;
// the guest then usually fails, and exceeded lets the agent say why.
type limitedAllocator struct {
	limit    uint64
	exceeded atomic.Bool
}

func (a *limitedAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
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
	grown := make([]byte, size, capacity)
	copy(grown, m.buf)
	m.buf = grown
	return m.buf
}

func (m *limitedMemory) Free() { m.buf = nil }
