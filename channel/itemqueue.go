package channel

import "encoding/binary"

// itemQueue is a channel's queue of received payloads. A small payload is
// copied into a slab, after its length, rather than queued as a slice of
// its own: a slice costs 24 bytes wherever its payload lies, so a flood of
// one-byte items (17 bytes of window each) held 1.5 times the window in
// slices alone, and the peer's window bounded the client's memory only
// loosely. Large payloads are queued as they came.
//
// The entries form a ring whose size is a power of two, and which holds no
// more than twice the most entries queued at once. It keeps its ring when
// it empties, and its last slab while there is room in it, so that a
// consumer that catches up now and then does not grow either again.
// Slabs are never written over: a payload popped from one stays valid.
type itemQueue struct {
	ring    []queueEntry
	head    int // the entry of the oldest item
	entries int // entries in use, from head
	off     int // where the oldest item starts in the head slab
	n       int // items queued
	slab    int // the capacity of the next slab
}

// A queueEntry is a large payload, or a slab of packed small ones.
type queueEntry struct {
	b      []byte
	packed bool
}

// Payloads up to maxPacked bytes are packed, in slabs of minSlab to maxSlab
// bytes: they start small, so that a peer spreading single items over
// thousands of channels makes each hold little, and double as a channel
// keeps filling them.
const (
	maxPacked = 256
	minSlab   = 64
	maxSlab   = 16 << 10
)

func (q *itemQueue) len() int { return q.n }

func (q *itemQueue) push(p []byte) {
	q.n++
	if len(p) > maxPacked {
		if cap(p) < minPooled {
			// Cut from the read loop's arena, which it would keep
			// alive whole while unread: up to 64 KiB for 257 bytes,
			// past what the channel counts as unread.
			p = append(make([]byte, 0, len(p)), p...)
		}
		q.pushEntry(queueEntry{b: p})
		return
	}
	need := binary.MaxVarintLen16 + len(p)
	tail := q.tail()
	if tail == nil || !tail.packed || cap(tail.b)-len(tail.b) < need {
		q.slab = min(max(q.slab*2, minSlab, need), maxSlab)
		q.pushEntry(queueEntry{b: make([]byte, 0, max(q.slab, need)), packed: true})
		tail = q.tail()
	}
	tail.b = binary.AppendUvarint(tail.b, uint64(len(p)))
	tail.b = append(tail.b, p...)
}

// tail returns the newest entry, or nil.
func (q *itemQueue) tail() *queueEntry {
	if q.entries == 0 {
		return nil
	}
	return &q.ring[(q.head+q.entries-1)&(len(q.ring)-1)]
}

func (q *itemQueue) pushEntry(e queueEntry) {
	if q.entries == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.entries)&(len(q.ring)-1)] = e
	q.entries++
}

// pop takes the oldest item; the queue must not be empty.
func (q *itemQueue) pop() []byte {
	e := &q.ring[q.head]
	if e.packed && q.off == len(e.b) {
		// The last slab, emptied and kept for the items to come, which
		// are in the next entry.
		q.dropHead()
		e = &q.ring[q.head]
	}
	q.n--
	if !e.packed {
		p := e.b
		q.dropHead()
		return p
	}
	size, k := binary.Uvarint(e.b[q.off:])
	start := q.off + k
	end := start + int(size)
	p := e.b[start:end:end]
	q.off = end
	if q.off == len(e.b) && (q.entries > 1 || len(e.b) == cap(e.b)) {
		q.dropHead()
	}
	if q.n == 0 {
		q.slab = 0
	}
	return p
}

// dropHead drops the oldest entry.
func (q *itemQueue) dropHead() {
	q.ring[q.head] = queueEntry{}
	q.head = (q.head + 1) & (len(q.ring) - 1)
	q.entries--
	q.off = 0
	if q.entries == 0 {
		q.head = 0
	}
}

func (q *itemQueue) grow() {
	ring := make([]queueEntry, max(4, 2*len(q.ring)))
	k := copy(ring, q.ring[q.head:])
	copy(ring[k:], q.ring[:q.head])
	q.ring, q.head = ring, 0
}
