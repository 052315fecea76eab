package main

import (
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strings"

	"go.starlark.net/starlark"

	"github.com/wasmnet/wasmnet/abi"
	"github.com/wasmnet/wasmnet/guest"
)

// maxDepth bounds the nesting of a value converted either way: a list that
// holds itself, or a deep value from the peer, fails instead of exhausting
// the guest's stack.
const maxDepth = 512

// maxTupleKey is the most elements a tuple used as a dict key may have on
// the wire (the Go SDKs decode such a key as a Go array of that length).
const maxTupleKey = 32

var anyType = reflect.TypeFor[any]()

var errTooDeep = fmt.Errorf("value nested deeper than %d levels (or it contains itself)", maxDepth)

// toGo converts a Starlark value to what the guest SDK sends: None, bool,
// int (64 bits signed, or unsigned above), float, str, bytes, list and
// tuple (arrays), dict (a map), set (an array) and channels.
func toGo(v starlark.Value, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	switch x := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(x), nil
	case starlark.Int:
		if i, ok := x.Int64(); ok {
			return i, nil
		}
		if u, ok := x.Uint64(); ok {
			return u, nil
		}
		if b := x.BigInt(); b.BitLen() <= 8*abi.MaxBigIntBytes {
			return b, nil
		}
		return nil, fmt.Errorf("int of %d bits is too big to send (at most %d bits)", x.BigInt().BitLen(), 8*abi.MaxBigIntBytes)
	case starlark.Float:
		return float64(x), nil
	case starlark.String:
		return string(x), nil
	case starlark.Bytes:
		return []byte(x), nil
	case *channelValue:
		return x.c, nil
	case *starlark.Dict:
		return dictToGo(x, depth)
	case starlark.Indexable: // list, tuple
		out := make([]any, x.Len())
		for i := range out {
			g, err := toGo(x.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = g
		}
		return out, nil
	case *starlark.Set:
		var out []any
		for e := range starlark.Elements(x) {
			g, err := toGo(e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot send a value of type %s", v.Type())
}

// dictToGo makes a map[string]any when every key is a string, else a
// map[any]any, whose keys must then be comparable Go values.
func dictToGo(d *starlark.Dict, depth int) (any, error) {
	items := d.Items()
	strKeys := true
	for _, kv := range items {
		if _, ok := kv[0].(starlark.String); !ok {
			strKeys = false
		}
	}
	if strKeys {
		m := make(map[string]any, len(items))
		for _, kv := range items {
			g, err := toGo(kv[1], depth+1)
			if err != nil {
				return nil, err
			}
			m[string(kv[0].(starlark.String))] = g
		}
		return m, nil
	}
	m := make(map[any]any, len(items))
	for _, kv := range items {
		k, err := keyToGo(kv[0], depth+1)
		if err != nil {
			return nil, err
		}
		if k != nil && !reflect.TypeOf(k).Comparable() {
			return nil, fmt.Errorf("cannot send a dict with a %s key", kv[0].Type())
		}
		g, err := toGo(kv[1], depth+1)
		if err != nil {
			return nil, err
		}
		m[k] = g
	}
	return m, nil
}

// keyToGo converts a dict key: a tuple becomes a Go array ([n]any), which
// a Go map can hold and which crosses as an array, as the Go SDKs decode it.
func keyToGo(k starlark.Value, depth int) (any, error) {
	t, ok := k.(starlark.Tuple)
	if !ok {
		return toGo(k, depth)
	}
	if depth > maxDepth {
		return nil, errTooDeep
	}
	if len(t) > maxTupleKey {
		return nil, fmt.Errorf("cannot send a dict with a tuple key of %d elements (at most %d)", len(t), maxTupleKey)
	}
	arr := reflect.New(reflect.ArrayOf(len(t), anyType)).Elem()
	for i, e := range t {
		g, err := keyToGo(e, depth+1)
		if err != nil {
			return nil, err
		}
		if g != nil {
			arr.Index(i).Set(reflect.ValueOf(g))
		}
	}
	return arr.Interface(), nil
}

// keyToStarlark converts a received dict key: a Go array (a tuple key)
// becomes a tuple, so that the dict is the one the peer sent.
func keyToStarlark(thread *starlark.Thread, k any, depth int) (starlark.Value, error) {
	rv := reflect.ValueOf(k)
	if k == nil || rv.Kind() != reflect.Array {
		return toStarlark(thread, k, depth)
	}
	t := make(starlark.Tuple, rv.Len())
	for i := range t {
		e, err := keyToStarlark(thread, rv.Index(i).Interface(), depth+1)
		if err != nil {
			return nil, err
		}
		t[i] = e
	}
	return t, nil
}

// toStarlark converts a received value: arrays become lists, maps dicts,
// channels channel values.
func toStarlark(thread *starlark.Thread, v any, depth int) (starlark.Value, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	switch x := v.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(x), nil
	case int64:
		return starlark.MakeInt64(x), nil
	case uint64:
		return starlark.MakeUint64(x), nil
	case float64:
		return starlark.Float(x), nil
	case string:
		return starlark.String(x), nil
	case []byte:
		return starlark.Bytes(x), nil
	case *guest.Chan:
		return newChannel(thread, x), nil
	case []any:
		elems := make([]starlark.Value, len(x))
		for i, e := range x {
			s, err := toStarlark(thread, e, depth+1)
			if err != nil {
				return nil, err
			}
			elems[i] = s
		}
		return starlark.NewList(elems), nil
	case map[string]any:
		d := starlark.NewDict(len(x))
		for k, e := range x {
			s, err := toStarlark(thread, e, depth+1)
			if err != nil {
				return nil, err
			}
			d.SetKey(starlark.String(k), s)
		}
		return d, nil
	case map[any]any:
		d := starlark.NewDict(len(x))
		for k, e := range x {
			sk, err := keyToStarlark(thread, k, depth+1)
			if err != nil {
				return nil, err
			}
			s, err := toStarlark(thread, e, depth+1)
			if err != nil {
				return nil, err
			}
			if err := d.SetKey(sk, s); err != nil {
				return nil, err
			}
		}
		return d, nil
	case *big.Int:
		return starlark.MakeBigInt(x), nil
	}
	return nil, fmt.Errorf("received a value of Go type %T that Starlark cannot hold", v)
}

// trimGuest drops the SDK's "guest: " prefix: the program's errors read as
// Starlark's own.
func trimGuest(err error) string {
	var re *guest.RemoteError
	if errors.As(err, &re) {
		return "remote error: " + re.Message
	}
	return strings.TrimPrefix(err.Error(), "guest: ")
}
