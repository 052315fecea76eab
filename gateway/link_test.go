package gateway

import (
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestStderrCopiedThroughSmallBuffer: copying an agent's stderr (as
// os/exec does, from a pipe) keeps its tail and allocates no 32 KiB copy
// buffer, which each gateway would hold for the life of its agent.
func TestStderrCopiedThroughSmallBuffer(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("x", 3000) + "the last words"
	go func() {
		w.WriteString(text)
		w.Close()
	}()
	tail := newTailBuffer(100)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := io.Copy(tail, r); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	r.Close()
	if got := tail.String(); got != text[len(text)-100:] {
		t.Fatalf("tail %q", got)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<10 {
		t.Fatalf("copying stderr allocated %d bytes", n)
	}
}
