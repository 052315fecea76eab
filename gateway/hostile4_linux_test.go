package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"sync"
	"testing"
)

// TestHostile4InterpreterReadsWhileOthersDrop: many uploads of the
// embedded interpreter at once (gateways to fresh agents), each of which
// gives the binary's pages back when it ends while the others still read
// the same bytes. Every read must still yield the interpreter, byte for
// byte: a page dropped under a reader faults back from the executable.
func TestHostile4InterpreterReadsWhileOthersDrop(t *testing.T) {
	interp, err := Interpreter()
	if err != nil {
		t.Fatal(err)
	}
	const readers, rounds = 32, 4
	var wg sync.WaitGroup
	errs := make(chan string, readers*rounds)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				rc, err := interp.open()
				if err != nil {
					errs <- err.Error()
					return
				}
				h := sha256.New()
				n, err := io.CopyBuffer(h, rc, make([]byte, 16<<10))
				rc.Close() // gives the pages back, under the other readers
				if err != nil {
					errs <- err.Error()
					return
				}
				if sum := hex.EncodeToString(h.Sum(nil)); sum != interp.Sum() || n != int64(interp.Size()) {
					errs <- "read " + sum + ", want " + interp.Sum()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
