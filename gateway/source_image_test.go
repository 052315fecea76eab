package gateway

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testutil"
)

// TestSourceStartsFromImage: the interpreter's start-up, the program it
// runs at initialisation included, leaves an image the agent takes, so
// every source execution after the first starts from it; and the
// start-up program's print never reaches the client. The next agent on
// the machine starts its first execution from the image too.
func TestSourceStartsFromImage(t *testing.T) {
	out := &testutil.SyncBuffer{}
	spec := "popen//id=img//env:XDG_CACHE_HOME=" + t.TempDir()
	g := popen(t, spec, WithOutput(out))
	programs := []struct {
		src  string
		want any
	}{
		{`channel.send(channel.receive() * 2)`, int64(42)},
		{`print("printed"); channel.send(str(channel.receive()))`, "21"},
		{`channel.send(json.encode({"n": [x for x in range(channel.receive())][-1]}))`, `{"n":20}`},
		{`channel.send(sorted({"b": 1, "a": channel.receive()}.items()))`, []any{[]any{"a", int64(21)}, []any{"b", int64(1)}}},
	}
	for _, p := range programs {
		ch := runSource(t, g, p.src)
		if err := ch.Send(21); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, ch); !reflect.DeepEqual(got, p.want) {
			t.Fatalf("%s: got %#v, want %#v", p.src, got, p.want)
		}
		if err := ch.WaitClose(testCtx(t)); err != nil {
			t.Fatalf("%s: %v", p.src, err)
		}
	}
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	// From the image: restored into a new instance, or run on one kept,
	// reset to the image, from an earlier execution.
	if want := int64(len(programs) - 1); st.ImageStarts+st.KeptStarts != want || st.KeptStarts == 0 {
		t.Fatalf("%d source executions started from the image and %d on a kept instance, want %d in all, some kept",
			st.ImageStarts, st.KeptStarts, want)
	}
	testutil.WaitFor(t, "the print output", func() bool { return strings.Contains(out.String(), "printed") })
	if strings.Contains(out.String(), "warm") {
		t.Fatalf("the start-up program's output reached the client: %q", out.String())
	}
	g.Exit(testCtx(t)) // the image is on disk once the execution that took it ended

	next := popen(t, spec, WithOutput(out))
	ch := runSource(t, next, programs[0].src)
	if err := ch.Send(21); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch); !reflect.DeepEqual(got, programs[0].want) {
		t.Fatalf("next agent: got %#v, want %#v", got, programs[0].want)
	}
	if st, err := next.RemoteStatus(testCtx(t)); err != nil || st.ImageStarts != 1 {
		t.Fatalf("next agent: %d of 1 source executions started from the image on disk (%v)", st.ImageStarts, err)
	}
}
