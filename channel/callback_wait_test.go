package channel

import (
	"sync"
	"testing"
	"time"
)

// TestWaitCloseAfterLastCallback is execnet's
// ch.setcallback(l.append, endmarker); ch.waitclose(): once WaitClose
// returns, the callback has had every item and the endmarker, even when it
// is slower than the items arrive.
func TestWaitCloseAfterLastCallback(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	for run := range 20 {
		c, a := channelPair(t, cm, am)
		var mu sync.Mutex
		var got []any
		err := c.SetCallback(func(v any) {
			time.Sleep(100 * time.Microsecond)
			mu.Lock()
			got = append(got, v)
			mu.Unlock()
		}, "END")
		if err != nil {
			t.Fatal(err)
		}
		const n = 50
		for i := range n {
			a.Send(i)
		}
		a.Close()
		if err := c.WaitClose(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if len(got) != n+1 || got[n] != "END" {
			t.Fatalf("run %d: WaitClose returned after %d of %d callbacks", run, len(got), n+1)
		}
		mu.Unlock()
	}
}
