package gateway

import (
	"math/big"
	"reflect"
	"strings"
	"testing"
)

// bigValues are what Python and Starlark send that 64-bit msgpack cannot
// hold: integers beyond 64 bits and dicts keyed by tuples.
func bigValues(t *testing.T) []any {
	t.Helper()
	x, ok := new(big.Int).SetString("9223372036854775807324234", 10)
	if !ok {
		t.Fatal("bad number")
	}
	return []any{x, new(big.Int).Lsh(big.NewInt(-1), 80),
		map[any]any{[3]any{int64(1), int64(2), int64(3)}: int64(32)},
		map[any]any{[2]any{[1]any{int64(7)}, "s"}: []any{x}}}
}

func sameValue(a, b any) bool {
	if x, ok := a.(*big.Int); ok {
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	}
	return reflect.DeepEqual(a, b)
}

// Every guest SDK carries big ints and tuple keys back unchanged: the Go
// SDK as *big.Int and Go arrays, C and Rust as the extension's bytes and
// maps as lists of pairs.
//
// execnet: testing/test_serializer.py::test_long and ::test_simple ("dict", "{(1, 2, 3): 32}")
func TestBigIntsAndTupleKeysEverySDK(t *testing.T) {
	g := popen(t, "popen")
	for lang, m := range everySDK(t, "echo") {
		t.Run(lang, func(t *testing.T) {
			ch, err := g.RemoteExec(testCtx(t), m)
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			for _, v := range bigValues(t) {
				if err := ch.Send(v); err != nil {
					t.Fatal(err)
				}
				if got := receive(t, ch); !sameValue(got, v) {
					t.Fatalf("sent %v, got %#v back", v, got)
				}
			}
		})
	}
}

// A Starlark program sends 2**80 (1 << 80) and a dict keyed by a tuple, and receives
// them from the client as Starlark ints and tuples.
//
// execnet: testing/test_serializer.py::test_long and ::test_simple ("dict", "{(1, 2, 3): 32}")
func TestSourceBigIntsAndTupleKeys(t *testing.T) {
	g := popen(t, "popen")
	ch := runSource(t, g, `
channel.send(1 << 80)  # Starlark has no **
channel.send({(1, 2, 3): 32})
x = channel.receive()
d = channel.receive()
channel.send([x == 9223372036854775807324234, type(x), d[(1, 2, 3)], type(list(d.keys())[0])])
big = 1 << 400
for _ in range(5):
    big = big * big  # 12800 bits: Starlark shifts by at most 511
channel.send(big)
`)
	if got := receive(t, ch); !sameValue(got, new(big.Int).Lsh(big.NewInt(1), 80)) {
		t.Fatalf("2**80: got %#v", got)
	}
	want := map[any]any{[3]any{int64(1), int64(2), int64(3)}: int64(32)}
	if got := receive(t, ch); !reflect.DeepEqual(got, want) {
		t.Fatalf("tuple-keyed dict: got %#v, want %#v", got, want)
	}
	vals := bigValues(t)
	ch.Send(vals[0])
	ch.Send(vals[2])
	if got := receive(t, ch); !reflect.DeepEqual(got, []any{true, "int", int64(32), "tuple"}) {
		t.Fatalf("the program saw %#v", got)
	}
	if msg := remoteErr(t, ch); !strings.Contains(msg, "too big to send") {
		t.Fatalf("2**12800: got %q, want an error naming the limit", msg)
	}
}
