package tests

// The conformance suite: one table of scenarios, run against the conform
// guest of every SDK (wasm-examples/conform: main.go, conform.c, conform.rs)
// on a real popen agent.

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// sdks builds the conform guest of each SDK.
var sdks = []struct {
	name  string
	build func(testing.TB, string) string
}{
	{"Go", testwasm.Go},
	{"C", testwasm.C},
	{"Rust", testwasm.Rust},
}

type conformCase struct {
	name string
	run  func(t *testing.T, g *gateway.Gateway, ch *channel.Channel)
}

var conformCases = []conformCase{
	{"echo every type", func(t *testing.T, g *gateway.Gateway, ch *channel.Channel) {
		values := []any{nil, true, false, int64(0), int64(-1), int64(127), int64(-33), int64(math.MaxInt64),
			int64(math.MinInt64), uint64(math.MaxUint64), 1.5, -0.25, math.Inf(1), "", "plain",
			"unicode: héllo wörld, 日本語, emoji 🎉", []byte{}, []byte{0, 1, 2, 255},
			bytes.Repeat([]byte("x"), 70000), strings.Repeat("long string ", 3000),
			[]any{}, []any{int64(1), "two", []any{nil, []any{3.5}}},
			map[string]any{"a": int64(1), "nested": map[string]any{"b": []any{map[string]any{"c": "deep"}}}},
			map[any]any{int64(1): "int key", "s": "str key"}}
		for _, v := range values {
			if got := call(t, ch, "echo", v); !reflect.DeepEqual(got, v) {
				t.Errorf("echo %.60v: got %.60v", v, got)
			}
		}
	}},
	{"echo test vectors", func(t *testing.T, g *gateway.Gateway, ch *channel.Channel) {
		for _, vec := range loadVectors(t) {
			if vec.Error != "" || bytes.Contains([]byte(vec.Hex), []byte("d601")) {
				continue // invalid input, or a channel the guest does not hold
			}
			want, err := channel.Unmarshal(vec.canonical)
			if err != nil {
				continue // well-formed msgpack Go maps cannot hold (a map keyed by an array)
			}
			cmd := append([]byte{0x92, 0xa4, 'e', 'c', 'h', 'o'}, vec.bytes...)
			if err := ch.SendRaw(ctxFor(t, testutil.WaitTimeout), cmd); err != nil {
				t.Fatal(err)
			}
			raw, err := ch.ReceiveRaw(ctxFor(t, testutil.WaitTimeout))
			if err != nil {
				t.Fatalf("vector %s: %v", vec.Name, err)
			}
			if got, err := channel.Unmarshal(raw); err != nil || !sameValue(got, want) {
				t.Errorf("vector %s: sent %x, got back %x (%v)", vec.Name, vec.bytes, raw, err)
			}
		}
	}},
	{"echo near the frame limit", func(t *testing.T, g *gateway.Gateway, ch *channel.Channel) {
		big := bytes.Repeat([]byte{0xab}, 64<<20-64)
		if got := call(t, ch, "echo", big); !bytes.Equal(asBytes(got), big) {
			t.Fatalf("got %d bytes back, want %d", len(asBytes(got)), len(big))
		}
	}},
	{"receive timeout", func(t *testing.T, g *gateway.Gateway, ch *channel.Channel) {
		if got := call(t, ch, "timeout", 20); got != "timeout" {
			t.Fatalf("got %v, want timeout", got)
		}
		send(t, ch, []any{"timeout", 30000})
		send(t, ch, "in time")
		if got := recv(t, ch); got != "in time" {
			t.Fatalf("got %v, want the item that came in time", got)
		}
	}},
	{"receive into a too-small buffer", func(t *testing.T, g *gateway.Gateway, ch *channel.Channel) {
		send(t, ch, []any{"bigrecv"})
		send(t, ch, make([]byte, 1<<20))
		if got := recv(t, ch); got != int64(1<<20+5) {
			t.Fatalf("guest received %v bytes, want %d", got, 1<<20+5)
		}
	}},
	{"channel from the guest", func(t *testing.T, g *gateway.Gateway, ch *channel.Channel) {
		send(t, ch, []any{"newchan"})
		theirs, ok := recv(t, ch).(*channel.Channel)
		if !ok {
			t.Fatal("newchan did not answer with a channel")
		}
		for _, v := range []any{"a", int64(2)} {
			send(t, theirs, v)
			if got := recv(t, theirs); got != v {
				t.Fatalf("echo on the guest's channel: got %v", got)
			}
		}
		theirs.Close()
		if got := call(t, ch, "echo", "after"); got != "after" {
			t.Fatalf("got %v", got)
		}
	}},
	{"channel from the client", func(t *testing.T, g *gateway.Gateway, ch *channel.Channel) {
		mine, err := g.NewChannel()
		if err != nil {
			t.Fatal(err)
		}
		send(t, ch, []any{"usechan", mine})
		if got := recv(t, mine); got != "hi" {
			t.Fatalf("got %v", got)
		}
		if _, err := mine.Receive(ctxFor(t, testutil.WaitTimeout)); err != io.EOF {
			t.Fatalf("got %v, want io.EOF after the guest closed it", err)
		}
	}},
	{"many channels", func(t *testing.T, g *gateway.Gateway, ch *channel.Channel) {
		const n = 200
		send(t, ch, []any{"many", n})
		list, _ := recv(t, ch).([]any)
		if len(list) != n {
			t.Fatalf("got %d channels, want %d", len(list), n)
		}
		for i, v := range list {
			c := v.(*channel.Channel)
			if got := recv(t, c); got != int64(i) {
				t.Fatalf("channel %d: got %v", i, got)
			}
			if _, err := c.Receive(ctxFor(t, testutil.WaitTimeout)); err != io.EOF {
				t.Fatalf("channel %d: got %v, want io.EOF", i, err)
			}
		}
	}},
	{"close with error", func(t *testing.T, g *gateway.Gateway, ch *channel.Channel) {
		send(t, ch, []any{"closeerr", "conformance: bad thing"})
		wantRemote(t, ch, "conformance: bad thing")
	}},
	{"trap", func(t *testing.T, g *gateway.Gateway, ch *channel.Channel) {
		send(t, ch, []any{"trap"})
		wantRemote(t, ch, "")
		// The agent survives a trapping guest.
		other, err := g.RemoteExec(ctxFor(t, testutil.WaitTimeout), loadModule(t, "echo"))
		if err != nil {
			t.Fatal(err)
		}
		send(t, other, "alive")
		if got := recv(t, other); got != "alive" {
			t.Fatalf("got %v", got)
		}
	}},
	{"unknown command", func(t *testing.T, g *gateway.Gateway, ch *channel.Channel) {
		send(t, ch, []any{"bogus"})
		wantRemote(t, ch, "conform: unknown command bogus/1")
	}},
	{"exit", func(t *testing.T, g *gateway.Gateway, ch *channel.Channel) {
		send(t, ch, []any{"exit"})
		if _, err := ch.Receive(ctxFor(t, testutil.WaitTimeout)); err != io.EOF {
			t.Fatalf("got %v, want io.EOF", err)
		}
	}},
}

func TestConformance(t *testing.T) {
	g := makeGateway(t, "popen")
	for _, sdk := range sdks {
		t.Run(sdk.name, func(t *testing.T) {
			m, err := gateway.LoadModule(sdk.build(t, "conform"))
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range conformCases {
				t.Run(tc.name, func(t *testing.T) {
					ch, err := g.RemoteExec(ctxFor(t, testutil.WaitTimeout), m, gateway.WithMemoryLimit(1<<30))
					if err != nil {
						t.Fatal(err)
					}
					defer ch.Close()
					tc.run(t, g, ch)
				})
			}
		})
	}
}

func send(t *testing.T, ch *channel.Channel, v any) {
	t.Helper()
	if err := ch.SendContext(ctxFor(t, testutil.WaitTimeout), v); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, ch *channel.Channel) any {
	t.Helper()
	v, err := ch.Receive(ctxFor(t, testutil.WaitTimeout))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func call(t *testing.T, ch *channel.Channel, op string, arg any) any {
	t.Helper()
	send(t, ch, []any{op, arg})
	return recv(t, ch)
}

// sameValue is reflect.DeepEqual for decoded values, except that NaN equals
// NaN: a NaN's payload bits may change between float widths.
func sameValue(a, b any) bool {
	if x, ok := a.(float64); ok {
		if y, ok := b.(float64); ok && math.IsNaN(x) && math.IsNaN(y) {
			return true
		}
	}
	return reflect.DeepEqual(a, b)
}

func asBytes(v any) []byte {
	b, _ := v.([]byte)
	return b
}

// wantRemote checks that the guest ended the channel with a RemoteError
// containing text.
func wantRemote(t *testing.T, ch *channel.Channel, text string) {
	t.Helper()
	_, err := ch.Receive(ctxFor(t, testutil.WaitTimeout))
	var re *channel.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Message, text) || re.Message == "" {
		t.Fatalf("got %v, want a RemoteError containing %q", err, text)
	}
}

// TestNewerABIGuestRefused builds a C guest that declares an ABI version the
// agent does not implement: RemoteExec fails naming both versions.
func TestNewerABIGuestRefused(t *testing.T) {
	clang, err := exec.LookPath("clang-14")
	if err != nil {
		t.Fatal("clang-14 is missing: apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "v2.c")
	os.WriteFile(src, []byte(`__attribute__((import_module("wasmnet"), import_name("abi_v2"))) int abi_v2(void);
int main(void) { return abi_v2(); }
`), 0o644)
	out := filepath.Join(dir, "v2.wasm")
	if b, err := exec.Command(clang, "--target=wasm32-wasi", "--sysroot=/usr", "-O2", src, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("clang-14: %v\n%s", err, b)
	}
	m, err := gateway.LoadModule(out)
	if err != nil {
		t.Fatal(err)
	}
	g := makeGateway(t, "popen")
	_, err = g.RemoteExec(ctxFor(t, testutil.WaitTimeout), m)
	if err == nil || !strings.Contains(err.Error(), "ABI v2") || !strings.Contains(err.Error(), "ABI v1") {
		t.Fatalf("got %v, want an error naming ABI v2 and v1", err)
	}
}
