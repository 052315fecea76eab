package channel

import "testing"

func TestPoolClassBounds(t *testing.T) {
	prev := -1
	for n := minPooled; n <= 64<<20; n += n/7 + 1 {
		class, size := poolClass(n)
		if size < n || size > n+n/4+1 {
			t.Fatalf("poolClass(%d) size %d: want n <= size <= 1.25n", n, size)
		}
		if class < prev {
			t.Fatalf("poolClass(%d) class %d below the class %d of a smaller size", n, class, prev)
		}
		prev = class
		if c2, s2 := poolClass(size); c2 != class || s2 != size {
			t.Fatalf("a buffer of %d bytes (class %d) maps to class %d, size %d", size, class, c2, s2)
		}
	}
}

func TestPoolReuses(t *testing.T) {
	var p bufPool
	// A sync.Pool may drop what it is given (under the race detector, a
	// quarter of it on purpose), so reuse is checked over many rounds.
	returned := map[*byte]bool{}
	for range 20 {
		b := p.get(1<<20 - 100)
		if len(b) != 1<<20-100 || cap(b) != 1<<20 {
			t.Fatalf("get: len %d cap %d, want %d and %d", len(b), cap(b), 1<<20-100, 1<<20)
		}
		if returned[&b[:1][0]] {
			return
		}
		returned[&b[:1][0]] = true
		p.put(b)
	}
	t.Error("no returned buffer was handed out again")
}

func TestPoolIgnoresForeignBuffers(t *testing.T) {
	var p bufPool
	p.put(make([]byte, 10))
	p.put(make([]byte, 5000, 5001)) // not a class size
	p.put(nil)
	if b := p.get(5000); cap(b) != 5120 {
		t.Errorf("get(5000) has cap %d, want 5120", cap(b))
	}
}
