package gateway

import (
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// starlarkExample loads wasm-examples/starlark/<name>.star as a source module.
func starlarkExample(t *testing.T, name string) Module {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testwasm.Root(t), "wasm-examples", "starlark", name+".star"))
	if err != nil {
		t.Fatal(err)
	}
	return starlarkInterp(t).WithSource(name+".star", string(src))
}

func TestStarlarkExampleIncrement(t *testing.T) {
	g := popen(t, "popen")
	ch, err := g.RemoteExec(testCtx(t), starlarkExample(t, "increment"))
	if err != nil {
		t.Fatal(err)
	}
	ch.Send(41)
	if v := receive(t, ch); v != int64(42) {
		t.Fatalf("got %#v, want 42", v)
	}
}

func TestStarlarkExampleWorker(t *testing.T) {
	grp := newGroup(t)
	makeGateways(t, grp, "3*popen")
	mc, err := grp.RemoteExec(testCtx(t), starlarkExample(t, "worker"))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	chans := mc.Channels()
	const tasks = 30
	for i := range tasks {
		chans[i%len(chans)].Send(i)
	}
	for _, ch := range chans {
		ch.Send(nil) // no more tasks
	}
	sum, per, ends := 0, map[string]int{}, 0
	for {
		it, err := mc.ReceiveItem(testCtx(t))
		if err == io.EOF {
			break
		}
		if err != nil || it.Err != nil {
			t.Fatalf("%v %v", err, it.Err)
		}
		if it.End {
			ends++
			continue
		}
		m := it.Value.(map[string]any)
		task, sq := m["task"].(int64), m["square"].(int64)
		if sq != task*task {
			t.Fatalf("%s: %d squared is not %d", it.Gateway.ID(), task, sq)
		}
		sum += int(task)
		per[it.Gateway.ID()]++
	}
	if sum != tasks*(tasks-1)/2 || ends != 3 || len(per) != 3 {
		t.Fatalf("sum %d, %d end markers, results per gateway %v", sum, ends, per)
	}
}

func TestStarlarkExampleSubchannels(t *testing.T) {
	g := popen(t, "popen")
	ch, err := g.RemoteExec(testCtx(t), starlarkExample(t, "subchannels"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{3, 0, 5} {
		ch.Send(n)
		sub := receive(t, ch).(*channel.Channel)
		var got []any
		for v, err := range sub.All(testCtx(t)) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		if len(got) != n || n > 0 && got[n-1] != int64((n-1)*(n-1)) {
			t.Fatalf("n=%d: got %v", n, got)
		}
	}
	ch.Close()
}

func TestStarlarkExampleCallback(t *testing.T) {
	g := popen(t, "popen")
	for range 5 {
		ch, err := g.RemoteExec(testCtx(t), starlarkExample(t, "callback"))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var l []any
		ch.SetCallback(func(v any) { mu.Lock(); l = append(l, v); mu.Unlock() }, "END")
		if err := ch.WaitClose(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if len(l) != 4 || l[0] != int64(42) || l[1] != int64(13) || l[3] != "END" {
			t.Fatalf("after WaitClose the callback had %v", l)
		}
		if _, ok := l[2].(*channel.Channel); !ok {
			t.Fatalf("third item %T, want a channel", l[2])
		}
		mu.Unlock()
	}
}
