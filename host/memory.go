package host

import (
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
	tenant   string    // whose execution the memory serves (Config.WithTenant)
	exceeded atomic.Bool
	made     experimental.LinearMemory // the memory Allocate made last
}

func (a *limitedAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	if a.image != nil {
		a.made = a.image.newMemory(a, max)
	} else {
		a.made = &limitedMemory{alloc: a, max: max}
	}
	return a.made
}

type limitedMemory struct {
	alloc *limitedAllocator
	max   uint64
	buf   []byte
}

// Reallocate reserves the memory's whole limit at the first call, as
// address space only: the kernel backs a page when the guest first touches
// it. So a growing memory is never copied, and an agent never holds two
// copies of a guest's memory (issue 10 measured a 534 MB peak for one
// guest capped at 256 MiB when each growth doubled and copied).
func (m *limitedMemory) Reallocate(size uint64) []byte {
	ceiling := min(m.alloc.limit, m.max)
	if size > ceiling {
		m.alloc.exceeded.Store(true)
		return nil
	}
	if m.buf == nil {
		m.buf = m.alloc.pools.get(ceiling)
		if m.buf == nil {
			m.alloc.exceeded.Store(true)
			return nil
		}
	}
	if size > uint64(cap(m.buf)) {
		m.alloc.exceeded.Store(true)
		return nil
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *limitedMemory) Free() {
	if m.buf != nil {
		m.alloc.pools.put(m.buf)
		m.buf = nil
	}
}

// memoryPools keeps a few reservations of ended executions, so that the
// next execution reuses warm pages instead of faulting in fresh ones: most
// of what a RemoteExec of a small guest cost. A kept reservation's length
// is the part its last user may have written, which is cleared before it
// is handed out again, so a guest always starts on zeroed memory. Each
// agent has its own.
type memoryPools struct {
	mu     sync.Mutex
	free   [][]byte
	closed bool // the agent ended: release what its executions free later
}

// maxPooled bounds the reservations kept; each holds the pages its last
// guest touched.
const maxPooled = 4

// get returns a zero-length buffer with capacity ceiling (rounded up to
// whole pages), or nil if the address space cannot be reserved.
func (p *memoryPools) get(ceiling uint64) []byte {
	p.mu.Lock()
	for i, b := range p.free {
		if uint64(cap(b)) >= ceiling && uint64(cap(b)) < ceiling+pageSize {
			p.free = append(p.free[:i], p.free[i+1:]...)
			p.mu.Unlock()
			clear(b)
			return b[:0]
		}
	}
	p.mu.Unlock()
	return reserve(ceiling)
}

// put keeps b for reuse, or releases it if enough are kept.
func (p *memoryPools) put(b []byte) {
	p.mu.Lock()
	// A memory freed after its agent ended (an instance closed late)
	// would otherwise stay reserved, and touched, for the process's life.
	if !p.closed && len(p.free) < maxPooled {
		p.free = append(p.free, b)
		b = nil
	}
	p.mu.Unlock()
	if b != nil {
		release(b)
	}
}

// close releases every kept reservation.
func (p *memoryPools) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.free {
		release(b)
	}
	p.free = nil
	p.closed = true
}
