package gateway

import (
	"runtime"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestInterpreterNotKept: the embedded interpreter, once hashed, costs the
// client no heap: its 6 MB are read out of the binary again for an
// upload, not held for the life of the process.
func TestInterpreterNotKept(t *testing.T) {
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	m, err := loadInterpreter()
	if err != nil {
		t.Fatal(err)
	}
	after := heap()
	runtime.KeepAlive(m)
	if m.Size() < 1<<20 {
		t.Fatalf("interpreter of %d bytes", m.Size())
	}
	if after > before && after-before > uint64(m.Size())/4 {
		t.Fatalf("the interpreter (%d bytes) holds %d bytes of heap", m.Size(), after-before)
	}
}

// TestInterpreterUploaded: an agent without a disk cache is sent the
// interpreter, read again for the upload, and runs a program in it.
func TestInterpreterUploaded(t *testing.T) {
	g := popen(t, "exec="+testwasm.Agent(t)+" agent --no-cache")
	ch, err := g.RemoteExec(testCtx(t), Source("channel.send(channel.receive() * 3)"))
	if err != nil {
		t.Fatal(err)
	}
	ch.Send(14)
	if v := receive(t, ch); v != int64(42) {
		t.Fatalf("got %#v, want 42", v)
	}
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.ModuleUploads != 1 {
		t.Fatalf("%d uploads, want the interpreter's", st.ModuleUploads)
	}
}

// TestInterpreterHashedInPlace: hashing the embedded interpreter reads it
// in pieces, rather than copying its 6 MB out of the binary first.
func TestInterpreterHashedInPlace(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := loadInterpreter()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > uint64(m.Size())/4 {
		t.Fatalf("hashing the interpreter (%d bytes) allocated %d bytes", m.Size(), n)
	}
}
