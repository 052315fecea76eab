package channel

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"

	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/wasmnet/wasmnet/abi"
)

// BigIntExtType is the msgpack extension type of an integer outside int64
// and uint64; abi.BigIntExtType documents its payload. Send encodes a
// *big.Int that fits 64 bits as a plain integer and one beyond as this
// extension; Receive gives a *big.Int only for the extension.
const BigIntExtType = abi.BigIntExtType

// MaxBigIntBytes is the largest magnitude, in bytes, of a big integer that
// Send encodes and Receive accepts (abi.MaxBigIntBytes).
const MaxBigIntBytes = abi.MaxBigIntBytes

// MaxTupleKey is the most elements an array used as a map key may have.
// Go map keys must be comparable, so such a key decodes as a Go array
// ([n]any), whose type is made (and kept by reflect) once per length.
const MaxTupleKey = 32

var (
	minInt64  = big.NewInt(math.MinInt64)
	maxUint64 = new(big.Int).SetUint64(math.MaxUint64)
	anyType   = reflect.TypeFor[any]()
)

// appendBigInt encodes x as an integer when it fits 64 bits, else as the
// big integer extension.
func appendBigInt(b []byte, x *big.Int) ([]byte, error) {
	switch {
	case x.IsInt64():
		return appendInt(b, x.Int64()), nil
	case x.IsUint64():
		return appendUint(b, x.Uint64()), nil
	}
	n := (x.BitLen() + 7) / 8
	if n > MaxBigIntBytes {
		return b, fmt.Errorf("channel: int of %d bits, more than the %d a big int may have on the wire", x.BitLen(), 8*MaxBigIntBytes)
	}
	b = appendExtHeader(b, BigIntExtType, 1+n)
	sign := byte(0)
	if x.Sign() < 0 {
		sign = 1
	}
	start := len(b) + 1
	b = append(append(b, sign), make([]byte, n)...)
	x.FillBytes(b[start:]) // the magnitude
	return b, nil
}

// appendExtHeader appends the header of an extension value of n bytes.
func appendExtHeader(b []byte, typ int8, n int) []byte {
	switch n {
	case 1:
		return append(b, msgpcode.FixExt1, byte(typ))
	case 2:
		return append(b, msgpcode.FixExt2, byte(typ))
	case 4:
		return append(b, msgpcode.FixExt4, byte(typ))
	case 8:
		return append(b, msgpcode.FixExt8, byte(typ))
	case 16:
		return append(b, msgpcode.FixExt16, byte(typ))
	}
	return append(appendSized(b, n, 0, 0, msgpcode.Ext8, msgpcode.Ext16, msgpcode.Ext32), byte(typ))
}

var (
	errBigIntForm  = errors.New("channel: big int: sign byte not 0 or 1, or a leading zero byte")
	errBigIntSmall = errors.New("channel: big int that fits 64 bits (it must be sent as an integer)")
)

// parseBigInt checks p, the payload of a big integer extension, and with
// build returns its value. The checks cost what p's length allows: the
// size first, then the form, then one comparison.
func parseBigInt(p []byte, build bool) (*big.Int, error) {
	if len(p)-1 > MaxBigIntBytes {
		return nil, fmt.Errorf("channel: big int of %d bytes, more than %d", len(p)-1, MaxBigIntBytes)
	}
	if len(p) < 2 || p[0] > 1 || p[1] == 0 {
		return nil, errBigIntForm
	}
	// A magnitude of up to 8 bytes fits uint64, and one of 8 bytes with the
	// sign set may fit int64: both must be plain integers.
	if len(p)-1 < 8 || len(p)-1 == 8 && p[0] == 0 {
		return nil, errBigIntSmall
	}
	x := new(big.Int).SetBytes(p[1:])
	if p[0] == 1 {
		x.Neg(x)
		if x.Cmp(minInt64) >= 0 {
			return nil, errBigIntSmall
		}
	}
	if !build {
		return nil, nil
	}
	return x, nil
}

// tupleKey converts k, a decoded map key, to a comparable Go value: an
// array ([]any) becomes a [n]any, recursively. It fails for a key no Go
// map can hold.
func tupleKey(k any) (any, error) {
	switch x := k.(type) {
	case []any:
		if len(x) > MaxTupleKey {
			return nil, fmt.Errorf("channel: map key: an array of %d elements, more than the %d a key may have", len(x), MaxTupleKey)
		}
		arr := reflect.New(reflect.ArrayOf(len(x), anyType)).Elem()
		for i, e := range x {
			ek, err := tupleKey(e)
			if err != nil {
				return nil, err
			}
			if ek != nil {
				arr.Index(i).Set(reflect.ValueOf(ek))
			}
		}
		return arr.Interface(), nil
	case map[string]any, map[any]any, []byte:
		return nil, fmt.Errorf("channel: map key of type %T", k)
	}
	return k, nil
}

// appendTuple encodes v, a Go array of any (a tuple key), as an array.
func appendTuple(b []byte, rv reflect.Value, m *Mux) ([]byte, error) {
	b = appendArrayHeader(b, rv.Len())
	var err error
	for i := range rv.Len() {
		if b, err = appendValue(b, rv.Index(i).Interface(), m); err != nil {
			return b, err
		}
	}
	return b, nil
}
