package channel

import (
	"math/bits"
	"sync"
)

// bufPool recycles the buffers that large frames are read into. Without it
// every large message is a fresh allocation that the garbage collector must
// find and the scavenger return to the kernel: with 1 MiB messages that
// churn, not the copying, was what bounded a channel's throughput (an agent
// ran twice as fast with GOGC=400). A buffer comes back only through
// ReceiveRawFunc, whose caller has promised not to keep it.
//
// Sizes are rounded up to a quarter of a power of two, so a buffer wastes
// at most a fifth of itself.
type bufPool struct {
	classes [64]sync.Pool // of *[]byte
}

// minPooled is the smallest payload read into a pooled buffer; smaller
// ones are cut from the reader's arena.
const minPooled = 4096 + 1

// readBuffer is the size of a connection's read buffer.
const readBuffer = 16 << 10

// The read loop's arena for small payloads starts at minArena, which
// holds the largest, and doubles up to maxArena.
const (
	minArena = 8 << 10
	maxArena = 64 << 10
)

// poolClass returns the class of a buffer for n bytes and the size of its
// buffers: with 2^k < n <= 2^(k+1), the multiples of 2^(k-2).
func poolClass(n int) (class, size int) {
	k := bits.Len(uint(n-1)) - 1
	step := 1 << (k - 2)
	q := (n + step - 1) / step // 5 to 8
	return (k-12)*4 + q - 5, q * step
}

// get returns a buffer of length n, n >= minPooled.
func (p *bufPool) get(n int) []byte {
	class, size := poolClass(n)
	if class >= len(p.classes) {
		return make([]byte, n)
	}
	if b, ok := p.classes[class].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, size)
}

// put takes back a buffer from get that nobody holds any more. Anything
// else (a small payload, a buffer of another size) is left to the GC.
func (p *bufPool) put(b []byte) {
	c := cap(b)
	if c < minPooled {
		return
	}
	class, size := poolClass(c)
	if size != c || class >= len(p.classes) {
		return
	}
	// A new pointer here, not &b: b's address taken anywhere moves b to
	// the heap on every call, the small payloads' too (2.5 million
	// allocations in one bench run).
	kept := new([]byte)
	*kept = b[:0]
	p.classes[class].Put(kept)
}
