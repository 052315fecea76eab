package testutil

import (
	"os"
	"testing"
)

func TestWaitGoroutineBlocked(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if goroutineBlocked("testutil.readOne") {
		t.Fatal("a goroutine seen blocked before any started")
	}
	done := make(chan struct{})
	go func() {
		readOne(r)
		close(done)
	}()
	WaitGoroutineBlocked(t, "testutil.readOne")
	r.Close()
	<-done
	if goroutineBlocked("testutil.readOne") {
		t.Fatal("a goroutine seen blocked after it returned")
	}
}

func readOne(r *os.File) { r.Read(make([]byte, 1)) }
