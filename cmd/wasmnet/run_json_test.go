package main

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"math/big"
	"runtime"
	"strings"
	"testing"
)

// oldJSON is how items were printed before writeJSON: the reference.
func oldJSON(t testing.TB, v any) string {
	b, err := marshalJSON(toJSON(v))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func streamedJSON(t testing.TB, v any) string {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if err := writeJSON(w, v); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return out.String()
}

func TestWriteJSONAsEncodingJSON(t *testing.T) {
	values := []any{nil, true, int64(-5), uint64(math.MaxUint64), 1.5, 1e21, 1e-7, math.NaN(), math.Inf(-1),
		"plain", "quote\" back\\ nl\n cr\r tab\t bs\b ff\f nul\x00 del\x7f <html>&", "bad\xffutf8", "ls\u2028ps\u2029 é 漢",
		[]byte("text"), []byte{0xff, 0, 1}, []byte{}, []any{int64(1), "x", []any{}},
		map[string]any{"b": int64(1), "a": []byte("z"), "": nil},
		map[any]any{int64(2): "two", "1": int64(1), true: false, "k": 1.0}}
	for _, v := range values {
		if got, want := streamedJSON(t, v), oldJSON(t, v); got != want {
			t.Errorf("%#v:\n got %s\nwant %s", v, got, want)
		}
	}
}

func FuzzWriteJSON(f *testing.F) {
	f.Add([]byte("a\x00\"\u2028\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []any{b, string(b), map[string]any{string(b): b}} {
			if got, want := streamedJSON(t, v), oldJSON(t, v); got != want {
				t.Fatalf("%q:\n got %s\nwant %s", b, got, want)
			}
		}
	})
}

// TestPrintBigValueMemory prints a 60 MB byte string of zeros (six bytes
// each in JSON) in both formats: printing allocates little beside it.
func TestPrintBigValueMemory(t *testing.T) {
	v := make([]byte, 60<<20)
	for _, asJSON := range []bool{false, true} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var n countingWriter
		if err := printItem(&n, "gw0", v, asJSON); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if n < 6*60<<20 {
			t.Fatalf("printed %d bytes", n)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
			t.Errorf("json=%v: printing 60 MB allocated %d MB", asJSON, alloc>>20)
		}
	}
	var out strings.Builder
	printItem(&out, "gw0", []byte("hi"), true)
	if out.String() != `{"type":"item","gateway":"gw0","value":"hi"}`+"\n" {
		t.Fatalf("got %q", out.String())
	}
}

type countingWriter int

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

var _ io.Writer = new(countingWriter)

// An integer beyond 64 bits (Python's 2**80) prints as a number in both
// formats, as execnet's users see it in Python.
//
// execnet: testing/test_serializer.py::test_long
func TestPrintBigInt(t *testing.T) {
	x, _ := new(big.Int).SetString("-9223372036854775807324234", 10)
	for asJSON, want := range map[bool]string{
		false: "gw0: -9223372036854775807324234\n",
		true:  `{"type":"item","gateway":"gw0","value":-9223372036854775807324234}` + "\n",
	} {
		var out strings.Builder
		if err := printItem(&out, "gw0", x, asJSON); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Errorf("json=%v: got %q, want %q", asJSON, out.String(), want)
		}
	}
}
