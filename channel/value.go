package channel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// ChannelExtType is the msgpack extension type of a channel value; its
// payload is the channel id as 4 big-endian bytes. It equals abi.ChannelExtType.
const ChannelExtType int8 = 1

// The codec for the common case (nil, bool, numbers, strings, bytes, slices
// and maps of them, channels) is written here: it is the hot path, it must
// resolve channel ids against this connection, and it decodes integers
// uniformly (int64, or uint64 above math.MaxInt64), which users can switch on.
// Anything else (structs, typed slices, ...) goes through msgpack/v5, whose
// decoder finds the connection through valueReader.

func init() {
	// Registration is per type, like gob.Register: it holds no connection
	// state. The connection is found through the encoder's writer or the
	// decoder's reader (valueWriter, valueReader).
	msgpack.RegisterExtEncoder(ChannelExtType, (*Channel)(nil), encodeChannelExt)
	msgpack.RegisterExtDecoder(ChannelExtType, (*Channel)(nil), decodeChannelExt)
}

// valueWriter carries the Mux a value is encoded for through msgpack/v5.
type valueWriter struct {
	buf []byte
	mux *Mux
}

func (w *valueWriter) Write(p []byte) (int, error) { w.buf = append(w.buf, p...); return len(p), nil }
func (w *valueWriter) WriteByte(c byte) error      { w.buf = append(w.buf, c); return nil }

// valueReader carries the Mux a value is decoded for through msgpack/v5.
// It implements io.ByteScanner so that the decoder uses it unwrapped.
type valueReader struct {
	b   []byte
	off int
	mux *Mux
}

func (r *valueReader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

func (r *valueReader) ReadByte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	r.off++
	return r.b[r.off-1], nil
}

func (r *valueReader) UnreadByte() error {
	if r.off == 0 {
		return errors.New("channel: unread at start")
	}
	r.off--
	return nil
}

func encodeChannelExt(e *msgpack.Encoder, v reflect.Value) ([]byte, error) {
	ch := v.Interface().(*Channel)
	if w, ok := e.Writer().(*valueWriter); ok && w.mux != nil && ch.mux != w.mux {
		return nil, fmt.Errorf("channel: channel %d belongs to another connection", ch.id)
	}
	return binary.BigEndian.AppendUint32(nil, ch.id), nil
}

func decodeChannelExt(d *msgpack.Decoder, v reflect.Value, extLen int) error {
	if extLen != 4 {
		return fmt.Errorf("channel: channel value of %d bytes, want 4", extLen)
	}
	var b [4]byte
	if err := d.ReadFull(b[:]); err != nil {
		return err
	}
	r, ok := d.Buffered().(*valueReader)
	if !ok || r.mux == nil {
		return errors.New("channel: channel value decoded outside a connection")
	}
	v.Set(reflect.ValueOf(r.mux.channelRef(binary.BigEndian.Uint32(b[:]))))
	return nil
}

var encoderPool = sync.Pool{New: func() any {
	w := &valueWriter{}
	e := msgpack.NewEncoder(w)
	e.UseCompactInts(true)
	e.UseCompactFloats(false)
	return &pooledEncoder{w: w, e: e}
}}

type pooledEncoder struct {
	w *valueWriter
	e *msgpack.Encoder
}

// appendValue appends the msgpack encoding of v to b.
func appendValue(b []byte, v any, m *Mux) ([]byte, error) {
	if out, ok, err := appendFast(b, v, m); ok || err != nil {
		return out, err
	}
	pe := encoderPool.Get().(*pooledEncoder)
	pe.w.buf, pe.w.mux = b, m
	err := pe.e.Encode(v)
	out := pe.w.buf
	pe.w.buf, pe.w.mux = nil, nil
	encoderPool.Put(pe)
	if err != nil {
		return b, fmt.Errorf("channel: encode %T: %w", v, err)
	}
	return out, nil
}

// Marshal encodes v as msgpack the way Send does. A *Channel inside v is
// encoded as an extension value; it can only be sent on its own connection.
func Marshal(v any) ([]byte, error) { return appendValue(nil, v, nil) }

// Unmarshal decodes one msgpack value the way Receive does: integers as
// int64 (uint64 above math.MaxInt64), floats as float64, maps as
// map[string]any when every key is a string, else map[any]any. A channel
// value outside a connection is an error.
func Unmarshal(b []byte) (any, error) { return decodeValue(b, nil) }

// UnmarshalInto decodes one msgpack value into dst, which may point to a
// struct, map, slice or any other type msgpack/v5 decodes. Unlike
// msgpack.Unmarshal it first checks, without allocating, that b is one
// well-formed value nested at most 256 deep, so that bytes from a peer
// cannot exhaust the stack or allocate for elements that are not there.
// Every request and notification body a peer sends is decoded with it.
func UnmarshalInto(b []byte, dst any) error { return unmarshalInto(b, dst, nil) }

// appendFast encodes the common types without reflection. ok is false for
// a type it does not know.
func appendFast(b []byte, v any, m *Mux) (out []byte, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return append(b, msgpcode.Nil), true, nil
	case bool:
		if x {
			return append(b, msgpcode.True), true, nil
		}
		return append(b, msgpcode.False), true, nil
	case int:
		return appendInt(b, int64(x)), true, nil
	case int8:
		return appendInt(b, int64(x)), true, nil
	case int16:
		return appendInt(b, int64(x)), true, nil
	case int32:
		return appendInt(b, int64(x)), true, nil
	case int64:
		return appendInt(b, x), true, nil
	case uint:
		return appendUint(b, uint64(x)), true, nil
	case uint8:
		return appendUint(b, uint64(x)), true, nil
	case uint16:
		return appendUint(b, uint64(x)), true, nil
	case uint32:
		return appendUint(b, uint64(x)), true, nil
	case uint64:
		return appendUint(b, x), true, nil
	case float32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Float), math.Float32bits(x)), true, nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, msgpcode.Double), math.Float64bits(x)), true, nil
	case string:
		return append(appendStrHeader(b, len(x)), x...), true, nil
	case []byte:
		return append(appendBinHeader(b, len(x)), x...), true, nil
	case *Channel:
		if x == nil {
			return append(b, msgpcode.Nil), true, nil
		}
		if m != nil && x.mux != m {
			return b, true, fmt.Errorf("channel: channel %d belongs to another connection", x.id)
		}
		return binary.BigEndian.AppendUint32(append(b, msgpcode.FixExt4, byte(ChannelExtType)), x.id), true, nil
	case *big.Int:
		if x == nil {
			return append(b, msgpcode.Nil), true, nil
		}
		out, err := appendBigInt(b, x)
		return out, true, err
	case []any:
		b = appendArrayHeader(b, len(x))
		for _, e := range x {
			if b, err = appendValue(b, e, m); err != nil {
				return b, true, err
			}
		}
		return b, true, nil
	case map[string]any:
		b = appendMapHeader(b, len(x))
		for k, e := range x {
			b = append(appendStrHeader(b, len(k)), k...)
			if b, err = appendValue(b, e, m); err != nil {
				return b, true, err
			}
		}
		return b, true, nil
	case map[any]any:
		b = appendMapHeader(b, len(x))
		for k, e := range x {
			if b, err = appendValue(b, k, m); err != nil {
				return b, true, err
			}
			if b, err = appendValue(b, e, m); err != nil {
				return b, true, err
			}
		}
		return b, true, nil
	}
	// A tuple key decoded by this package, sent back as it came.
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Array && rv.Type().Elem() == anyType {
		out, err := appendTuple(b, rv, m)
		return out, true, err
	}
	return b, false, nil
}

func appendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendUint(b, uint64(n))
	case n >= -32:
		return append(b, byte(n))
	case n >= math.MinInt8:
		return append(b, msgpcode.Int8, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Int16), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Int32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, msgpcode.Int64), uint64(n))
}

func appendUint(b []byte, n uint64) []byte {
	switch {
	case n <= 127:
		return append(b, byte(n))
	case n <= math.MaxUint8:
		return append(b, msgpcode.Uint8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Uint16), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Uint32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, msgpcode.Uint64), n)
}

func appendSized(b []byte, n int, fix, fixMax byte, c8, c16, c32 byte) []byte {
	switch {
	case fix != 0 && n <= int(fixMax):
		return append(b, fix|byte(n))
	case c8 != 0 && n <= math.MaxUint8:
		return append(b, c8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, c16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, c32), uint32(n))
}

func appendStrHeader(b []byte, n int) []byte {
	return appendSized(b, n, msgpcode.FixedStrLow, 31, msgpcode.Str8, msgpcode.Str16, msgpcode.Str32)
}

func appendBinHeader(b []byte, n int) []byte {
	return appendSized(b, n, 0, 0, msgpcode.Bin8, msgpcode.Bin16, msgpcode.Bin32)
}

func appendArrayHeader(b []byte, n int) []byte {
	return appendSized(b, n, msgpcode.FixedArrayLow, 15, 0, msgpcode.Array16, msgpcode.Array32)
}

func appendMapHeader(b []byte, n int) []byte {
	return appendSized(b, n, msgpcode.FixedMapLow, 15, 0, msgpcode.Map16, msgpcode.Map32)
}

var decoderPool = sync.Pool{New: func() any { return msgpack.NewDecoder(nil) }}

// unmarshalInto decodes one msgpack value into dst, resolving channel
// values against m.
func unmarshalInto(b []byte, dst any, m *Mux) error {
	if p, ok := dst.(*any); ok {
		v, err := decodeValue(b, m)
		if err == nil {
			*p = v
		}
		return err
	}
	if err := checkValue(b); err != nil {
		return fmt.Errorf("channel: decode into %T: %w", dst, err)
	}
	r := &valueReader{b: b, mux: m}
	d := decoderPool.Get().(*msgpack.Decoder)
	d.Reset(r)
	err := d.Decode(dst)
	d.Reset(nil)
	decoderPool.Put(d)
	if err != nil {
		return fmt.Errorf("channel: decode into %T: %w", dst, err)
	}
	if r.off != len(b) {
		return fmt.Errorf("channel: %d bytes after the msgpack value", len(b)-r.off)
	}
	return nil
}
