package channel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// maxDepth bounds the nesting of decoded values, so that a hostile peer
// cannot exhaust the stack with a deeply nested message.
const maxDepth = 256

var errTruncated = errors.New("channel: truncated msgpack value")

// decoder walks one msgpack value in b. With build false it only validates
// and reports channel ids, allocating nothing.
type decoder struct {
	b     []byte
	off   int
	mux   *Mux
	build bool
	onID  func(id uint32) error

	// own says that b is the decoder's to keep: a byte string that is at
	// least half of b's capacity is returned as a slice of it rather than
	// copied, and kept says that one was.
	own, kept bool
}

func decodeValue(b []byte, m *Mux) (any, error) {
	d := decoder{b: b, mux: m, build: true}
	return d.whole()
}

// decodeOwned is decodeValue for a message the caller gives up. A large
// byte string that is most of the message, as a bulk item is, comes back
// as a slice of b instead of a copy: for a 2 MiB item that is one 2 MiB
// allocation less, and garbage the client's heap no longer grows by. kept
// reports whether the value holds b, which must then not be reused. Only
// a string of at least half of b's capacity is kept (a pooled buffer is
// up to a quarter larger than its message), so what a value pins is at
// most twice what it holds. A message that fails to decode returns no
// value: b goes back to the pool, and a value decoded up to the fault
// (stray bytes after it) may be a slice of b.
func decodeOwned(b []byte, m *Mux) (v any, kept bool, err error) {
	d := decoder{b: b, mux: m, build: true, own: len(b) >= minPooled}
	if v, err = d.whole(); err != nil {
		return nil, false, err
	}
	return v, d.kept, nil
}

// whole decodes the one value that must fill d.b.
func (d *decoder) whole() (any, error) {
	v, err := d.value(0)
	if err == nil && d.off != len(d.b) {
		err = fmt.Errorf("channel: %d bytes after the msgpack value", len(d.b)-d.off)
	}
	return v, err
}

// ChannelIDs checks that b is exactly one well-formed msgpack value and
// calls fn with the id of every channel value in it, stopping at the first
// error fn returns. Agents use it to check what a guest sends and to grant
// the guest the channels it receives.
func ChannelIDs(b []byte, fn func(id uint32) error) error {
	d := decoder{b: b, onID: fn}
	_, err := d.value(0)
	if err == nil && d.off != len(b) {
		err = fmt.Errorf("channel: %d bytes after the msgpack value", len(b)-d.off)
	}
	return err
}

// checkValue checks that b is exactly one well-formed msgpack value nested
// at most maxDepth deep, allocating nothing. Reflective decoding (msgpack/v5)
// recurses without a depth limit and allocates slices by their declared
// count; once b has passed, every count is backed by elements that are
// there, so what it allocates is what the value holds.
func checkValue(b []byte) error { return ChannelIDs(b, nil) }

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || len(d.b)-d.off < n {
		return nil, errTruncated
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p, nil
}

func (d *decoder) uint(size int) (uint64, error) {
	p, err := d.take(size)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
	return binary.BigEndian.Uint64(p), nil
}

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("channel: msgpack value nested deeper than %d", maxDepth)
	}
	p, err := d.take(1)
	if err != nil {
		return nil, err
	}
	c := p[0]
	switch {
	case c <= msgpcode.PosFixedNumHigh:
		return int64(c), nil
	case c >= msgpcode.NegFixedNumLow:
		return int64(int8(c)), nil
	case c >= msgpcode.FixedMapLow && c <= msgpcode.FixedMapHigh:
		return d.mapOf(int(c&0x0f), depth)
	case c >= msgpcode.FixedArrayLow && c <= msgpcode.FixedArrayHigh:
		return d.arrayOf(int(c&0x0f), depth)
	case c >= msgpcode.FixedStrLow && c <= msgpcode.FixedStrHigh:
		return d.str(int(c & 0x1f))
	}
	switch c {
	case msgpcode.Nil:
		return nil, nil
	case msgpcode.False:
		return false, nil
	case msgpcode.True:
		return true, nil
	case msgpcode.Uint8, msgpcode.Uint16, msgpcode.Uint32, msgpcode.Uint64:
		n, err := d.uint(1 << (c - msgpcode.Uint8))
		if n > math.MaxInt64 {
			return n, err
		}
		return int64(n), err
	case msgpcode.Int8:
		n, err := d.uint(1)
		return int64(int8(n)), err
	case msgpcode.Int16:
		n, err := d.uint(2)
		return int64(int16(n)), err
	case msgpcode.Int32:
		n, err := d.uint(4)
		return int64(int32(n)), err
	case msgpcode.Int64:
		n, err := d.uint(8)
		return int64(n), err
	case msgpcode.Float:
		n, err := d.uint(4)
		return float64(math.Float32frombits(uint32(n))), err
	case msgpcode.Double:
		n, err := d.uint(8)
		return math.Float64frombits(n), err
	case msgpcode.Str8, msgpcode.Str16, msgpcode.Str32:
		n, err := d.uint(1 << (c - msgpcode.Str8))
		if err != nil {
			return nil, err
		}
		return d.str(int(n))
	case msgpcode.Bin8, msgpcode.Bin16, msgpcode.Bin32:
		n, err := d.uint(1 << (c - msgpcode.Bin8))
		if err != nil {
			return nil, err
		}
		return d.bin(int(n))
	case msgpcode.Array16, msgpcode.Array32:
		n, err := d.uint(2 << (c - msgpcode.Array16))
		if err != nil {
			return nil, err
		}
		return d.arrayOf(int(n), depth)
	case msgpcode.Map16, msgpcode.Map32:
		n, err := d.uint(2 << (c - msgpcode.Map16))
		if err != nil {
			return nil, err
		}
		return d.mapOf(int(n), depth)
	case msgpcode.FixExt1, msgpcode.FixExt2, msgpcode.FixExt4, msgpcode.FixExt8, msgpcode.FixExt16:
		return d.ext(1 << (c - msgpcode.FixExt1))
	case msgpcode.Ext8, msgpcode.Ext16, msgpcode.Ext32:
		n, err := d.uint(1 << (c - msgpcode.Ext8))
		if err != nil {
			return nil, err
		}
		return d.ext(int(n))
	}
	return nil, fmt.Errorf("channel: invalid msgpack code %#x at offset %d", c, d.off-1)
}

func (d *decoder) str(n int) (any, error) {
	p, err := d.take(n)
	if err != nil || !d.build {
		return nil, err
	}
	return string(p), nil
}

func (d *decoder) bin(n int) (any, error) {
	p, err := d.take(n)
	if err != nil || !d.build {
		return nil, err
	}
	if d.own && 2*n >= cap(d.b) {
		d.kept = true
		return p[:n:n], nil // capped, so that an append copies it
	}
	// Not append to nil: an empty bin decodes to an empty, non-nil slice.
	b := make([]byte, len(p))
	copy(b, p)
	return b, nil
}

// growCap is the most elements a container is allocated for before they
// arrive: a declared count is only a claim, and every nesting level of a
// hostile value may claim all the bytes left.
const growCap = 256

func (d *decoder) arrayOf(n int, depth int) (any, error) {
	if n > len(d.b)-d.off { // every element takes at least one byte
		return nil, errTruncated
	}
	var out []any
	if d.build {
		out = make([]any, 0, min(n, growCap))
	}
	for range n {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if d.build {
			out = append(out, v)
		}
	}
	return out, nil
}

func (d *decoder) mapOf(n int, depth int) (any, error) {
	if 2*n > len(d.b)-d.off {
		return nil, errTruncated
	}
	if !d.build {
		for range 2 * n {
			if _, err := d.value(depth + 1); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	keys := make([]any, 0, min(n, growCap))
	vals := make([]any, 0, min(n, growCap))
	allStrings := true
	for range n {
		k, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, ok := k.(string); !ok {
			allStrings = false
			if k, err = tupleKey(k); err != nil {
				return nil, err
			}
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		keys, vals = append(keys, k), append(vals, v)
	}
	if allStrings {
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

func (d *decoder) ext(n int) (any, error) {
	p, err := d.take(1 + n)
	if err != nil {
		return nil, err
	}
	switch int8(p[0]) {
	case ChannelExtType:
	case BigIntExtType:
		return parseBigInt(p[1:], d.build)
	default:
		return nil, fmt.Errorf("channel: unknown msgpack extension type %d", int8(p[0]))
	}
	if n != 4 {
		return nil, fmt.Errorf("channel: channel value of %d bytes, want 4", n)
	}
	id := binary.BigEndian.Uint32(p[1:])
	if d.onID != nil {
		if err := d.onID(id); err != nil {
			return nil, err
		}
	}
	if !d.build {
		return nil, nil
	}
	if d.mux == nil {
		return nil, fmt.Errorf("channel: channel value %d decoded outside a connection", id)
	}
	return d.mux.channelRef(id), nil
}
