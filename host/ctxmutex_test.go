package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

// TestCompilationWaitEndsWithItsRequest: an upload queued behind another
// compilation (another tenant's, which may be long) gives up when its
// request ends, and leaves no verdict on the module: the next upload of
// the same bytes compiles it.
func TestCompilationWaitEndsWithItsRequest(t *testing.T) {
	ctx := context.Background()
	rt, err := newRuntime(ctx, wazero.NewRuntimeConfigCompiler(), StopInstrument)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	s := newModuleStore(&runtimes{rt: rt, stop: StopInstrument}, "", NewConfig())
	b := variant(1, 0)
	h := sha256.Sum256(b)
	sum := hex.EncodeToString(h[:])

	s.compileMu.Lock() // a compilation that does not end
	gone, cancel := context.WithCancel(ctx)
	cancel() // the client left
	done := make(chan error, 1)
	go func() { done <- s.add(gone, "a", sum, b) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the upload of a client that left ended with %v, want its cancellation", err)
		}
	case <-time.After(time.Minute): // a hang, not a goal: it needs no waiting
		t.Fatal("the upload of a client that left waits for another's compilation")
	}
	s.compileMu.Unlock()
	if err := s.add(ctx, "a", sum, b); err != nil {
		t.Fatalf("the module after an upload given up: %v", err)
	}
}
