package channel

// itemQueue is a channel's queue of received payloads: a ring, whose
// size is a power of two. It holds no more than twice the most items that
// were unread at once (which the window bounds), however many the channel
// carries. It keeps its ring when it empties: a flood's consumer that
// catches up now and then would otherwise grow it again each time.
type itemQueue struct {
	buf  [][]byte
	head int
	n    int
}

func (q *itemQueue) len() int { return q.n }

func (q *itemQueue) push(p []byte) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = p
	q.n++
}

// pop takes the oldest item; the queue must not be empty.
func (q *itemQueue) pop() []byte {
	p := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	if q.n == 0 {
		q.head = 0
	}
	return p
}

func (q *itemQueue) grow() {
	buf := make([][]byte, max(16, 2*len(q.buf)))
	k := copy(buf, q.buf[q.head:])
	copy(buf[k:], q.buf[:q.head])
	q.buf, q.head = buf, 0
}
