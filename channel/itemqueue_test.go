package channel

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestItemQueueOrder: items leave in the order they came, across the
// ring's wrap-around and growth.
func TestItemQueueOrder(t *testing.T) {
	var q itemQueue
	rng := rand.New(rand.NewPCG(1, 2))
	in, out := 0, 0
	for range 100_000 {
		if q.len() == 0 || rng.IntN(3) > 0 {
			q.push([]byte(strconv.Itoa(in)))
			in++
			continue
		}
		if got, want := string(q.pop()), strconv.Itoa(out); got != want {
			t.Fatalf("popped %s, want %s", got, want)
		}
		out++
	}
	if q.len() != in-out {
		t.Fatalf("len %d, want %d", q.len(), in-out)
	}
}
