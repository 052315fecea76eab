package guest

import (
	"fmt"
	"math"
	"math/big"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/wasmnet/wasmnet/abi"
)

// maxTupleKey is the most elements an array map key may have: such a key
// decodes as a Go array, whose type is made once per length.
const maxTupleKey = 32

var (
	minInt64 = big.NewInt(math.MinInt64)
	anyType  = reflect.TypeFor[any]()
)

// An integer beyond 64 bits is the msgpack extension abi.BigIntExtType.
// A *big.Int encodes as a plain integer when it fits 64 bits, so that
// every integer has one encoding, and received ones decode to *big.Int.
func init() {
	msgpack.RegisterExtDecoder(abi.BigIntExtType, (*big.Int)(nil), decodeBigIntExt)
	msgpack.Register((*big.Int)(nil), encodeBigInt, nil)
}

func encodeBigInt(e *msgpack.Encoder, v reflect.Value) error {
	x := v.Interface().(*big.Int)
	switch {
	case x == nil:
		return e.EncodeNil()
	case x.IsInt64():
		return e.EncodeInt(x.Int64())
	case x.IsUint64():
		return e.EncodeUint(x.Uint64())
	}
	n := (x.BitLen() + 7) / 8
	if n > abi.MaxBigIntBytes {
		return fmt.Errorf("int of %d bits, more than the %d a big int may have on the wire", x.BitLen(), 8*abi.MaxBigIntBytes)
	}
	b := make([]byte, 1+n)
	if x.Sign() < 0 {
		b[0] = 1
	}
	x.FillBytes(b[1:])
	if err := e.EncodeExtHeader(abi.BigIntExtType, len(b)); err != nil {
		return err
	}
	_, err := e.Writer().Write(b)
	return err
}

// decodeBigIntExt fills v, a *big.Int, from the payload, refusing what the
// protocol does: a magnitude beyond abi.MaxBigIntBytes, a leading zero, a
// sign byte other than 0 or 1, or a value that fits 64 bits.
func decodeBigIntExt(d *msgpack.Decoder, v reflect.Value, extLen int) error {
	if extLen-1 > abi.MaxBigIntBytes || extLen < 2 {
		return fmt.Errorf("guest: big int of %d bytes, want 2 to %d", extLen, abi.MaxBigIntBytes+1)
	}
	p := make([]byte, extLen)
	if err := d.ReadFull(p); err != nil {
		return err
	}
	if p[0] > 1 || p[1] == 0 || extLen-1 < 8 || extLen-1 == 8 && p[0] == 0 {
		return fmt.Errorf("guest: big int not in its one encoding (sign %d, %d bytes)", p[0], extLen-1)
	}
	x := v.Interface().(*big.Int)
	x.SetBytes(p[1:])
	if p[0] == 1 {
		x.Neg(x)
		if x.Cmp(minInt64) >= 0 {
			return fmt.Errorf("guest: big int %s fits 64 bits", x)
		}
	}
	return nil
}

// tupleKey converts a decoded map key to a value a Go map can hold: an
// array becomes a Go array ([n]any), recursively.
func tupleKey(k any) (any, error) {
	switch x := k.(type) {
	case []any:
		if len(x) > maxTupleKey {
			return nil, fmt.Errorf("guest: map key: an array of %d elements, more than %d", len(x), maxTupleKey)
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
	case nil:
		return nil, nil
	}
	if !reflect.TypeOf(k).Comparable() {
		return nil, fmt.Errorf("guest: map key of type %T cannot be a Go map key", k)
	}
	return k, nil
}
