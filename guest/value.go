package guest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
	"github.com/wasmnet/wasmnet/abi"
)

// A *Chan is the msgpack extension abi.ChannelExtType with the handle as 4
// big-endian bytes. Registering it with msgpack makes a *Chan encode anywhere
// in a value (struct field, slice, map) and makes a received channel decode
// to a *Chan, also inside an any.
func init() {
	msgpack.RegisterExtEncoder(abi.ChannelExtType, (*Chan)(nil), encodeChanExt)
	msgpack.RegisterExtDecoder(abi.ChannelExtType, (*Chan)(nil), decodeChanExt)
}

func encodeChanExt(_ *msgpack.Encoder, v reflect.Value) ([]byte, error) {
	c := v.Interface().(*Chan)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(c.h))
	return b[:], nil
}

// decodeChanExt fills v, a non-nil *Chan that msgpack allocated, from the
// extension payload.
func decodeChanExt(d *msgpack.Decoder, v reflect.Value, extLen int) error {
	if extLen != 4 {
		return fmt.Errorf("guest: channel value has %d bytes, want 4", extLen)
	}
	var b [4]byte
	if err := d.ReadFull(b[:]); err != nil {
		return err
	}
	h := binary.BigEndian.Uint32(b[:])
	if h > math.MaxInt32 {
		return fmt.Errorf("guest: channel handle %d out of range", h)
	}
	v.Interface().(*Chan).h = int32(h)
	return nil
}

// newEncoder returns the encoder Send uses: integers in their smallest form,
// as abi/README.md asks.
func newEncoder(buf *bytes.Buffer) *msgpack.Encoder {
	e := msgpack.NewEncoder(buf)
	e.UseCompactInts(true)
	return e
}

// decodeAny decodes one value with the types Receive documents: nil, bool,
// int64 (uint64 only above math.MaxInt64), float64, string, []byte, []any,
// map[string]any (map[any]any when a key is not a string), *Chan, and
// whatever msgpack registers for other extension types.
func decodeAny(d *msgpack.Decoder) (any, error) {
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, d.DecodeNil()
	case c == msgpcode.True || c == msgpcode.False:
		return d.DecodeBool()
	case c == msgpcode.Uint64:
		u, err := d.DecodeUint64()
		if err != nil || u > math.MaxInt64 {
			return u, err
		}
		return int64(u), nil
	case msgpcode.IsFixedNum(c), c == msgpcode.Uint8, c == msgpcode.Uint16, c == msgpcode.Uint32,
		c == msgpcode.Int8, c == msgpcode.Int16, c == msgpcode.Int32, c == msgpcode.Int64:
		return d.DecodeInt64()
	case c == msgpcode.Float || c == msgpcode.Double:
		return d.DecodeFloat64()
	case msgpcode.IsString(c):
		return d.DecodeString()
	case msgpcode.IsBin(c):
		return d.DecodeBytes()
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		return decodeArray(d)
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		return decodeMap(d)
	}
	// Extensions: channels and any type msgpack itself registers.
	return d.DecodeInterface()
}

func decodeArray(d *msgpack.Decoder) (any, error) {
	n, err := d.DecodeArrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	// Every element takes at least one byte: a length beyond what is left
	// is a lie, so it must not size an allocation.
	s := make([]any, 0, min(n, remaining(d)))
	for range n {
		v, err := decodeAny(d)
		if err != nil {
			return nil, err
		}
		s = append(s, v)
	}
	return s, nil
}

// decodeMap decodes a map as map[string]any when every key is a string (or
// bin), and as map[any]any otherwise.
func decodeMap(d *msgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	keys := make([]any, 0, min(n, remaining(d)))
	vals := make([]any, 0, min(n, remaining(d)))
	strKeys := true
	for range n {
		k, err := decodeAny(d)
		if err != nil {
			return nil, err
		}
		switch kk := k.(type) {
		case string:
		case []byte:
			k = string(kk)
		default:
			strKeys = false
			if k, err = tupleKey(k); err != nil {
				return nil, err
			}
		}
		v, err := decodeAny(d)
		if err != nil {
			return nil, err
		}
		keys, vals = append(keys, k), append(vals, v)
	}
	if strKeys {
		m := make(map[string]any, len(keys))
		for i, k := range keys {
			m[k.(string)] = vals[i]
		}
		return m, nil
	}
	m := make(map[any]any, len(keys))
	for i, k := range keys {
		m[k] = vals[i]
	}
	return m, nil
}

// remaining is how many undecoded bytes are left in d's message.
func remaining(d *msgpack.Decoder) int {
	if r, ok := d.Buffered().(*bytes.Reader); ok {
		return r.Len()
	}
	return 0
}

// unmarshal decodes one whole message into dst: with decodeAny's rules when
// dst is a *any, else with msgpack's (maps inside any fields still follow
// decodeAny's).
func unmarshal(d *msgpack.Decoder, r *bytes.Reader, msg []byte, dst any) error {
	r.Reset(msg)
	d.Reset(r)
	d.SetMapDecoder(decodeMap)
	var err error
	if p, ok := dst.(*any); ok {
		*p, err = decodeAny(d)
	} else {
		err = d.Decode(dst)
	}
	if err != nil {
		return fmt.Errorf("guest: decode: %w", err)
	}
	if r.Len() != 0 {
		return fmt.Errorf("guest: decode: %d bytes after the value", r.Len())
	}
	return nil
}
