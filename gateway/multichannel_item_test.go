package gateway

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/channel"
)

// TestReceiveItemNamesGatewayAndEnds checks what a controller loop needs
// without searching Channels(): each entry names its gateway (as Of does
// for the channel), and every channel gives exactly one last entry, End
// for a normal close and Err for an error, like execnet's
// make_receive_queue(endmarker).
func TestReceiveItemNamesGatewayAndEnds(t *testing.T) {
	grp := newGroup(t)
	makeGateways(t, grp, "popen//id=a", "popen//id=b", "popen//id=c")
	src := `
n = channel.receive()
for i in range(n):
    channel.send(i)
if n == 0:
    fail("asked for nothing")
`
	mc, err := grp.RemoteExec(testCtx(t), starlarkInterp(t).WithSource("q.star", src))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	asks := map[string]int{"a": 3, "b": 0, "c": 2}
	for i, ch := range mc.Channels() {
		if Of(ch) != mc.Gateways()[i] || mc.GatewayOf(ch) != Of(ch) {
			t.Fatalf("channel %d: Of gives %v, want %v", i, Of(ch), mc.Gateways()[i])
		}
		ch.Send(asks[Of(ch).ID()])
	}
	items, ends := map[string]int{}, map[string]string{}
	for {
		it, err := mc.ReceiveItem(testCtx(t))
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		id := it.Gateway.ID()
		if Of(it.Channel) != it.Gateway {
			t.Fatalf("entry of %s carries the channel of %v", id, Of(it.Channel))
		}
		if _, ok := ends[id]; ok {
			t.Fatalf("%s: an entry after its last one: %+v", id, it)
		}
		var re *channel.RemoteError
		switch {
		case it.End:
			ends[id] = "end"
		case errors.As(it.Err, &re):
			ends[id] = re.Message
		case it.Err != nil:
			t.Fatalf("%s: %v", id, it.Err)
		default:
			if it.Value != int64(items[id]) {
				t.Fatalf("%s: item %v, want %d", id, it.Value, items[id])
			}
			items[id]++
		}
	}
	if items["a"] != 3 || items["b"] != 0 || items["c"] != 2 {
		t.Errorf("items per gateway %v", items)
	}
	if ends["a"] != "end" || ends["c"] != "end" || !strings.Contains(ends["b"], "asked for nothing") {
		t.Errorf("last entries %q", ends)
	}
}
