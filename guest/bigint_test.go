package guest

import (
	"bytes"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

// The guest SDK sends and receives integers beyond 64 bits with the same
// bytes as the client (channel.TestBigIntBytes), and small *big.Int values
// as plain integers.
//
// execnet: testing/test_serializer.py::test_long
func TestBigIntValues(t *testing.T) {
	x, _ := new(big.Int).SetString("9223372036854775807324234", 10)
	neg80 := new(big.Int).Lsh(big.NewInt(-1), 80)
	want80 := "\xc7\x0c\x02\x01\x01" + strings.Repeat("\x00", 10)
	if got := marshal(t, neg80); string(got) != want80 {
		t.Fatalf("-2**80: got % x, want % x", got, want80)
	}
	if got := marshal(t, big.NewInt(5)); !bytes.Equal(got, []byte{5}) {
		t.Fatalf("big 5: got % x, want 05", got)
	}
	for _, in := range []*big.Int{x, neg80} {
		var v any
		if err := decode(marshal(t, []any{in}), &v); err != nil {
			t.Fatal(err)
		}
		if got, ok := v.([]any)[0].(*big.Int); !ok || got.Cmp(in) != 0 {
			t.Fatalf("%s: got %#v back", in, v)
		}
	}
	type withBig struct {
		N *big.Int `msgpack:"n"`
	}
	var s withBig
	if err := decode(marshal(t, withBig{x}), &s); err != nil || s.N.Cmp(x) != 0 {
		t.Fatalf("struct field: got %v, %v", s.N, err)
	}
	for name, b := range map[string][]byte{
		"fits uint64": {0xc7, 0x09, 0x02, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"too long":    append([]byte{0xc8, 0x04, 0x02, 0x02, 0x00, 0xff}, make([]byte, 1024)...),
		"bad sign":    {0xc7, 0x0a, 0x02, 0x02, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		var v any
		if err := decode(b, &v); err == nil {
			t.Errorf("%s: decoded %v", name, v)
		}
	}
	if _, err := newEncoderErr(new(big.Int).Lsh(big.NewInt(1), 8192)); err == nil {
		t.Fatal("an 8193-bit int encoded")
	}
}

func newEncoderErr(v any) ([]byte, error) {
	var buf bytes.Buffer
	err := newEncoder(&buf).Encode(v)
	return buf.Bytes(), err
}

// A map keyed by tuples decodes with Go arrays as keys and encodes back to
// the same bytes.
//
// execnet: testing/test_serializer.py::test_simple ("dict", "{(1, 2, 3): 32}")
func TestTupleKeys(t *testing.T) {
	in := []byte{0x81, 0x93, 0x01, 0x02, 0x03, 0x20}
	var v any
	if err := decode(in, &v); err != nil {
		t.Fatal(err)
	}
	want := map[any]any{[3]any{int64(1), int64(2), int64(3)}: int64(32)}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v, want %#v", v, want)
	}
	if got := marshal(t, v); !bytes.Equal(got, in) {
		t.Fatalf("re-encoded to % x, want % x", got, in)
	}
	if err := decode(append([]byte{0x81, 0xdc, 0x00, 0x21}, make([]byte, 34)...), &v); err == nil {
		t.Fatal("a 33-element key decoded")
	}
}
