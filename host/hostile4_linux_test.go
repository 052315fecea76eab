package host

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHostile4HoldsSharedCodeSkipsFIFO: a damaged cache holds, where the
// agent looks for a module's shared code files (base-<size>.exec), a
// FIFO, or a symlink to one. Matching a cache file to them must answer,
// not wait for a writer that never comes: it runs under compileMu, so
// every compilation of the agent would wait with it.
func TestHostile4HoldsSharedCodeSkipsFIFO(t *testing.T) {
	dir := t.TempDir()
	code := []byte("machine code of three functions")
	const funcs = 3
	b := append([]byte("WAZEVO"), byte(len("v1")))
	b = append(b, "v1"...)
	b = binary.LittleEndian.AppendUint32(b, funcs)
	for i := range funcs {
		b = binary.LittleEndian.AppendUint64(b, uint64(i*8))
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(len(code)))
	b = append(b, code...)
	cached := writeFile(t, dir, "cached", b)
	fifo := filepath.Join(dir, "m-100.exec")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "m-200.exec")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for _, exec := range []string{fifo, link} {
		done := make(chan bool, 1)
		go func() { done <- holdsSharedCode(cached, funcs, []string{exec}) }()
		select {
		case got := <-done:
			if got {
				t.Errorf("%s: a FIFO matched as shared code", filepath.Base(exec))
			}
		case <-time.After(20 * time.Second):
			// Give the stuck open its writer, so that it ends.
			if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
			<-done
			t.Errorf("%s: holdsSharedCode waited 20s on a FIFO in the cache", filepath.Base(exec))
		}
	}
}
