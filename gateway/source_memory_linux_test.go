package gateway

import (
	"testing"

	"github.com/wasmnet/wasmnet/internal/rss"
	"github.com/wasmnet/wasmnet/internal/starlarkwasm"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestInterpreterUploadGivesBackItsPages: an upload reads the interpreter
// out of this binary, which brings its 6.6 MB into the client's resident
// memory; they are given back once sent, not kept for the client's life.
func TestInterpreterUploadGivesBackItsPages(t *testing.T) {
	if _, _, ok := starlarkwasm.RecordedSum(); !ok {
		// Without it the client hashes the interpreter, which reads it
		// all before the measure.
		t.Fatal("the embedded interpreter has no recorded sum: build it with make starlark")
	}
	interp, err := Interpreter()
	if err != nil {
		t.Fatal(err)
	}
	run := func(g *Gateway, m Module, x int64) {
		t.Helper()
		ch, err := g.RemoteExec(testCtx(t), m.WithSource("prog.star", "channel.send(channel.receive() * 3)"))
		if err != nil {
			t.Fatal(err)
		}
		ch.Send(x)
		if v := receive(t, ch); v != 3*x {
			t.Fatalf("got %#v, want %d", v, 3*x)
		}
	}
	// First the same upload from bytes on the heap, so that the client
	// code an upload and an execution run is resident before the measure.
	run(popen(t, "exec="+testwasm.Agent(t)+" agent --no-cache"), starlarkInterp(t), 1)
	g := popen(t, "exec="+testwasm.Agent(t)+" agent --no-cache")
	before, err := rss.FileSelf()
	if err != nil {
		t.Fatal(err)
	}
	run(g, interp, 2)
	after, err := rss.FileSelf()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RssFile %d kB before the upload, %d kB after", before>>10, after>>10)
	if grew := after - before; grew > int64(interp.Size())/2 {
		t.Fatalf("an upload of the interpreter (%d bytes) left the client %d bytes of file pages heavier", interp.Size(), grew)
	}
}
