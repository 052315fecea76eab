package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmnet/wasmnet/host/internal/instrument"
)

// TestCompilationWaitEndsWithItsRequest: an upload queued behind another
// compilation (another tenant's, which may be long) gives up when its
// request ends, and leaves no verdict on the module: the next upload of
// the same bytes compiles it.
func TestCompilationWaitEndsWithItsRequest(t *testing.T) {
	ctx := context.Background()
	s := memoryStore(t)
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

// TestCompilationEndsWithItsRequest: a compilation whose request ends (its
// client left) stops rather than keep the store's compilations waiting,
// and leaves no verdict on the module.
func TestCompilationEndsWithItsRequest(t *testing.T) {
	ctx := context.Background()
	s := memoryStore(t)
	// 100,000 functions of 16 nested loops: within every bound, and some
	// 20 s of compilation.
	loops := append([]byte{0}, bytes.Repeat([]byte{0x03, 0x40}, 16)...)
	loops = append(loops, bytes.Repeat([]byte{0x0b}, 17)...)
	b := funcsModule(100_000, loops)
	h := sha256.Sum256(b)
	sum := hex.EncodeToString(h[:])

	gone, cancel := context.WithCancel(ctx)
	stop := time.AfterFunc(time.Second, cancel) // the client leaves
	defer stop.Stop()
	if err := s.add(gone, "a", sum, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("the compilation of a client that left ended with %v, want its cancellation", err)
	}
	if m := s.acquire(sum); m != nil {
		s.release(m)
		t.Error("the store kept a module whose compilation was stopped")
	}
}

// funcsModule returns a module of n functions () -> (), each with body
// code (locals and instructions).
func funcsModule(n int, code []byte) []byte {
	section := func(m []byte, id byte, body []byte) []byte {
		m = append(append(m, id), binary.AppendUvarint(nil, uint64(len(body)))...)
		return append(m, body...)
	}
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = section(m, 1, []byte{1, 0x60, 0, 0})
	m = section(m, 3, append(binary.AppendUvarint(nil, uint64(n)), make([]byte, n)...))
	body := binary.AppendUvarint(nil, uint64(n))
	for range n {
		body = append(binary.AppendUvarint(body, uint64(len(code))), code...)
	}
	return section(m, 10, body)
}

// TestShapeBoundsHoldForEveryStopMechanism: the benchmarks' stop
// mechanisms run modules unrewritten, but within the same bounds.
func TestShapeBoundsHoldForEveryStopMechanism(t *testing.T) {
	b := funcsModule(instrument.MaxFuncs+1, []byte{0, 0x0b})
	for _, stop := range []StopMechanism{StopInstrument, StopContextChecks, StopNone} {
		if _, err := prepare(b, stop); err == nil || !strings.Contains(err.Error(), "past the bound") {
			t.Errorf("stop mechanism %d: %d functions prepared with %v, want a refusal naming the bound", stop, instrument.MaxFuncs+1, err)
		}
	}
	ok := funcsModule(1, []byte{0, 0x0b})
	if out, err := prepare(ok, StopNone); err != nil || !bytes.Equal(out, ok) {
		t.Errorf("StopNone changed a module within the bounds, or refused it: %v", err)
	}
}

// memoryStore returns a module store with no disk cache on a runtime of
// its own, which the test closes.
func memoryStore(t *testing.T) *moduleStore {
	t.Helper()
	ctx := context.Background()
	rt, err := newRuntime(ctx, wazero.NewRuntimeConfigCompiler(), StopInstrument)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	return newModuleStore(&runtimes{rt: rt, stop: StopInstrument}, "", NewConfig())
}
