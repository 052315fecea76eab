package channel

import (
	"math/big"
	"reflect"
	"strings"
	"testing"
)

func mustBig(t testing.TB, s string) *big.Int {
	t.Helper()
	x, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("bad number %q", s)
	}
	return x
}

// Integers beyond 64 bits cross as the big int extension and come back
// as the same *big.Int; those within 64 bits stay plain integers.
//
// execnet: testing/test_serializer.py::test_long
func TestBigIntRoundTrip(t *testing.T) {
	for _, s := range []string{"9223372036854775807324234", "-9223372036854775809",
		"18446744073709551616", "1208925819614629174706176", "-1208925819614629174706176"} {
		x := mustBig(t, s)
		b, err := Marshal(x)
		if err != nil {
			t.Fatalf("Marshal(%s): %v", s, err)
		}
		v, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal(%x): %v", b, err)
		}
		if got, ok := v.(*big.Int); !ok || got.Cmp(x) != 0 {
			t.Fatalf("%s: got %#v back", s, v)
		}
	}
	for s, want := range map[string]any{"-9223372036854775808": int64(-1 << 63), "18446744073709551615": uint64(1<<64 - 1), "5": int64(5)} {
		b, err := Marshal(mustBig(t, s))
		if err != nil {
			t.Fatal(err)
		}
		if v, err := Unmarshal(b); err != nil || v != want {
			t.Fatalf("%s: got %#v (%v), want %#v", s, v, err, want)
		}
	}
}

// 2**80 has one encoding, written in abi.BigIntExtType's documentation.
func TestBigIntBytes(t *testing.T) {
	b, err := Marshal(new(big.Int).Lsh(big.NewInt(-1), 80))
	if err != nil {
		t.Fatal(err)
	}
	// ext8, 12 bytes, type 2, negative, then 0x01 and ten zero bytes.
	want := "\xc7\x0c\x02\x01\x01" + strings.Repeat("\x00", 10)
	if string(b) != want {
		t.Fatalf("got %x, want %x", b, want)
	}
}

// A peer's big int is bounded and canonical: a long one, a short one that
// fits 64 bits, a leading zero or a bad sign byte fail without costing more
// than their bytes.
func TestBigIntHostile(t *testing.T) {
	long := append([]byte{0xc8, 0x04, 0x02, 0x02, 0x00, 0xff}, make([]byte, 1024)...) // 1025 magnitude bytes
	for name, b := range map[string][]byte{
		"too long":     long,
		"fits uint64":  {0xc7, 0x09, 0x02, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"fits int64":   {0xc7, 0x09, 0x02, 0x01, 0x80, 0, 0, 0, 0, 0, 0, 0},
		"short":        {0xd5, 0x02, 0x00, 0x07},
		"leading zero": {0xc7, 0x0b, 0x02, 0x00, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0},
		"bad sign":     {0xc7, 0x0a, 0x02, 0x02, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"empty":        {0xd4, 0x02, 0x00},
	} {
		if v, err := Unmarshal(b); err == nil {
			t.Errorf("%s: decoded %v", name, v)
		}
		if err := ChannelIDs(b, nil); err == nil {
			t.Errorf("%s: ChannelIDs accepts it", name)
		}
	}
	over := new(big.Int).Lsh(big.NewInt(1), 8*MaxBigIntBytes)
	if _, err := Marshal(over); err == nil || !strings.Contains(err.Error(), "bits") {
		t.Fatalf("Marshal of a %d-bit int: got %v, want an error naming the limit", over.BitLen(), err)
	}
	largest := new(big.Int).Sub(over, big.NewInt(1))
	b, err := Marshal(largest)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Unmarshal(b); err != nil || v.(*big.Int).Cmp(largest) != 0 {
		t.Fatalf("the largest big int did not come back: %v", err)
	}
}

// A map keyed by an array (a Python or Starlark tuple) decodes with the key
// as a Go array, which a Go map can hold, and encodes back to the same bytes.
//
// execnet: testing/test_serializer.py::test_simple ("dict", "{(1, 2, 3): 32}")
func TestTupleKeyRoundTrip(t *testing.T) {
	in := []byte{0x81, 0x93, 0x01, 0x02, 0x03, 0x20} // {(1, 2, 3): 32}
	v, err := Unmarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[any]any{[3]any{int64(1), int64(2), int64(3)}: int64(32)}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v, want %#v", v, want)
	}
	out, err := Marshal(v)
	if err != nil || string(out) != string(in) {
		t.Fatalf("re-encoded to %x (%v), want %x", out, err, in)
	}
	nested := []byte{0x81, 0x92, 0x91, 0x01, 0xa1, 'x', 0xc3} // {((1,), "x"): true}
	v, err = Unmarshal(nested)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.(map[any]any)[[2]any{[1]any{int64(1)}, "x"}]; !ok {
		t.Fatalf("nested tuple key: got %#v", v)
	}
	wide := append([]byte{0x81, 0xdc, 0x00, 0x21}, make([]byte, 34)...) // a 33-element key
	if _, err := Unmarshal(wide); err == nil {
		t.Fatal("a key of 33 elements decoded")
	}
	if _, err := Unmarshal([]byte{0x81, 0x81, 0x01, 0x01, 0x01}); err == nil {
		t.Fatal("a map keyed by a map decoded")
	}
}
