package guest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/wasmnet/wasmnet/abi"
)

// Args returns the typed arguments the client gave this execution
// (gateway's Module.With, execnet's remote_exec(..., **kwargs)), decoded
// with Receive's types: int64 for integers, map[string]any for maps, and
// so on. It returns an empty map when the client gave none.
//
// The arguments travel in the environment variable abi.ArgsEnv, so a guest
// sees them even before it reads its channel; os.Args still has the
// string arguments of gateway.WithArgs.
func Args() (map[string]any, error) {
	s, ok := os.LookupEnv(abi.ArgsEnv)
	if !ok {
		return map[string]any{}, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("guest: arguments in %s: %w", abi.ArgsEnv, err)
	}
	return DecodeArgs(b)
}

// DecodeArgs decodes typed arguments given as one msgpack map, as Args
// does; a source guest that receives them in its own message uses it.
func DecodeArgs(b []byte) (map[string]any, error) {
	var v any
	if err := Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("guest: arguments: %w", err)
	}
	switch m := v.(type) {
	case map[string]any:
		return m, nil
	case map[any]any:
		if len(m) == 0 {
			return map[string]any{}, nil
		}
	}
	return nil, fmt.Errorf("guest: arguments are a %T, want a map keyed by names", v)
}

// Unmarshal decodes b, one msgpack value, into dst as ReceiveInto does: a
// *any gets Receive's types.
func Unmarshal(b []byte, dst any) error {
	return unmarshal(msgpack.NewDecoder(nil), new(bytes.Reader), b, dst)
}
