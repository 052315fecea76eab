package guest

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// marshal encodes v as Send does.
func marshal(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := newEncoder(&buf).Encode(v); err != nil {
		t.Fatalf("encode %#v: %v", v, err)
	}
	return buf.Bytes()
}

// decode decodes msg into dst as Receive and ReceiveInto do.
func decode(msg []byte, dst any) error {
	return unmarshal(msgpack.NewDecoder(nil), new(bytes.Reader), msg, dst)
}

func TestChanEncoding(t *testing.T) {
	ch := &Chan{h: 0x01020304}
	type withChan struct {
		C *Chan `msgpack:"c"`
	}
	tests := []struct {
		name string
		v    any
		want []byte
	}{
		{"bare", ch, []byte{0xd6, 0x01, 1, 2, 3, 4}},
		{"struct", withChan{ch}, []byte{0x81, 0xa1, 'c', 0xd6, 0x01, 1, 2, 3, 4}},
		{"slice", []any{ch}, []byte{0x91, 0xd6, 0x01, 1, 2, 3, 4}},
		{"map", map[string]*Chan{"c": ch}, []byte{0x81, 0xa1, 'c', 0xd6, 0x01, 1, 2, 3, 4}},
		{"nil", (*Chan)(nil), []byte{0xc0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := marshal(t, tt.v); !bytes.Equal(got, tt.want) {
				t.Errorf("got % x, want % x", got, tt.want)
			}
		})
	}
}

func TestChanDecoding(t *testing.T) {
	msg := []byte{0x82, 0xa1, 'c', 0xd6, 0x01, 0, 0, 0, 7, 0xa1, 'l', 0x91, 0xd6, 0x01, 0, 0, 0, 9}
	var v any
	if err := decode(msg, &v); err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if c, ok := m["c"].(*Chan); !ok || c.Handle() != 7 {
		t.Errorf("m[c] = %#v, want *Chan 7", m["c"])
	}
	if c, ok := m["l"].([]any)[0].(*Chan); !ok || c.Handle() != 9 {
		t.Errorf("m[l][0] = %#v, want *Chan 9", m["l"])
	}

	var s struct {
		C *Chan   `msgpack:"c"`
		L []*Chan `msgpack:"l"`
	}
	if err := decode(msg, &s); err != nil {
		t.Fatal(err)
	}
	if s.C == nil || s.C.Handle() != 7 || len(s.L) != 1 || s.L[0].Handle() != 9 {
		t.Errorf("struct = %+v", s)
	}

	var bad any
	if err := decode([]byte{0xd5, 0x01, 0, 1}, &bad); err == nil {
		t.Error("2-byte channel value decoded without error")
	}
}

func TestDecodeAnyTypes(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		want any
	}{
		{"nil", []byte{0xc0}, nil},
		{"true", []byte{0xc3}, true},
		{"fixint", []byte{0x05}, int64(5)},
		{"negfixint", []byte{0xff}, int64(-1)},
		{"uint8", []byte{0xcc, 200}, int64(200)},
		{"uint32", []byte{0xce, 0xff, 0xff, 0xff, 0xff}, int64(math.MaxUint32)},
		{"int16", []byte{0xd1, 0xff, 0x00}, int64(-256)},
		{"uint64 small", []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 1}, int64(1)},
		{"uint64 big", []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint64(math.MaxUint64)},
		{"int64 min", []byte{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, int64(math.MinInt64)},
		{"float32", []byte{0xca, 0x3f, 0xc0, 0, 0}, float64(1.5)},
		{"float64", []byte{0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}, float64(1.5)},
		{"str", []byte{0xa2, 'h', 'i'}, "hi"},
		{"bin", []byte{0xc4, 2, 'h', 'i'}, []byte("hi")},
		{"array", []byte{0x92, 0x01, 0xa1, 'x'}, []any{int64(1), "x"}},
		{"map str", []byte{0x81, 0xa1, 'a', 0x01}, map[string]any{"a": int64(1)}},
		{"map bin key", []byte{0x81, 0xc4, 1, 'a', 0x01}, map[string]any{"a": int64(1)}},
		{"map int key", []byte{0x82, 0x01, 0xa1, 'x', 0xa1, 'y', 0x02}, map[any]any{int64(1): "x", "y": int64(2)}},
		{"nested map", []byte{0x81, 0xa1, 'm', 0x81, 0xa1, 'n', 0xc0}, map[string]any{"m": map[string]any{"n": nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got any
			if err := decode(tt.msg, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
	}{
		{"trailing", []byte{0x01, 0x02}},
		{"short", []byte{0xa5, 'a'}},
		{"map key", []byte{0x81, 0x80, 0x01}}, // an array key is a tuple (TestTupleKeys)
		{"huge array", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			err := decode(tt.msg, &v)
			if err == nil {
				t.Fatalf("decoded %#v without error", v)
			}
			if !strings.HasPrefix(err.Error(), "guest: ") {
				t.Errorf("error %q lacks the guest: prefix", err)
			}
		})
	}
}

func TestReceiveIntoTyped(t *testing.T) {
	type item struct {
		Name  string         `msgpack:"name"`
		Count int            `msgpack:"count"`
		Extra any            `msgpack:"extra"`
		Tags  map[string]int `msgpack:"tags"`
	}
	in := map[string]any{
		"name": "x", "count": 3,
		"extra": map[any]any{"k": 1},
		"tags":  map[string]int{"a": 1},
	}
	var out item
	if err := decode(marshal(t, in), &out); err != nil {
		t.Fatal(err)
	}
	want := item{Name: "x", Count: 3, Extra: map[string]any{"k": int64(1)}, Tags: map[string]int{"a": 1}}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("got %#v, want %#v", out, want)
	}
}

func TestEncodeCompactInts(t *testing.T) {
	if got := marshal(t, int64(5)); !bytes.Equal(got, []byte{0x05}) {
		t.Errorf("int64(5) = % x, want 05", got)
	}
	if got := marshal(t, map[string]int64{"a": 300}); !bytes.Equal(got, []byte{0x81, 0xa1, 'a', 0xcd, 0x01, 0x2c}) {
		t.Errorf("map = % x", got)
	}
}
