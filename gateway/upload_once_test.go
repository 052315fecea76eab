package gateway

import (
	"crypto/rand"
	"fmt"
	"sync"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// withNonce returns wasm with a custom section of random bytes appended:
// the same module under a sha256 that no agent has seen.
func withNonce(t *testing.T, wasm []byte) []byte {
	t.Helper()
	nonce := make([]byte, 16)
	rand.Read(nonce)
	name := "nonce"
	body := append([]byte{byte(len(name))}, name...)
	body = append(body, nonce...)
	out := append([]byte(nil), wasm...)
	return append(append(out, 0, byte(len(body))), body...)
}

// TestOneModuleUploadForConcurrentExecs: 32 RemoteExec calls of one new
// module at once send its bytes once.
func TestOneModuleUploadForConcurrentExecs(t *testing.T) {
	g := popen(t, "popen")
	m := ModuleBytes(withNonce(t, testwasm.Bytes(t, "echo")))
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ch, err := g.RemoteExec(testCtx(t), m)
			if err != nil {
				errs <- err
				return
			}
			defer ch.Close()
			if err := ch.Send(i); err != nil {
				errs <- err
				return
			}
			if v, err := ch.Receive(testCtx(t)); err != nil || fmt.Sprint(v) != fmt.Sprint(i) {
				errs <- fmt.Errorf("echo %d: got %v, %v", i, v, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.ModuleUploads != 1 || st.UploadedBytes != int64(m.Size()) {
		t.Fatalf("the agent received %d uploads, %d bytes; want 1 of %d", st.ModuleUploads, st.UploadedBytes, m.Size())
	}
}
