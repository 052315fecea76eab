package gateway

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"github.com/wasmnet/wasmnet/abi"
	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/starlarkprog"
)

// maxArgsBytes bounds a module's encoded typed arguments: they travel in
// one exec request or program message, and a guest holds them all before
// it starts. Data beyond it belongs on the channel.
const maxArgsBytes = 1 << 20

// moduleArgs are a module's typed arguments, encoded once.
type moduleArgs struct {
	encoded []byte   // one msgpack map
	sorted  []string // the names, sorted
}

func (a *moduleArgs) names() []string {
	if a == nil {
		return nil
	}
	return a.sorted
}

// env is the environment entry that carries the arguments to a compiled
// guest (abi.ArgsEnv).
func (a *moduleArgs) env() string {
	return abi.ArgsEnv + "=" + base64.StdEncoding.EncodeToString(a.encoded)
}

// With returns a Module that runs m with typed arguments, as execnet's
// remote_exec(source, **kwargs) passes keyword arguments. Values are what
// Send takes (numbers, strings, bytes, lists, maps, *big.Int), except
// channels: send those on the execution's channel.
//
// In a source module each name is predeclared in the program as a Starlark
// value, so it must be an identifier that is not a keyword nor one of the
// names the interpreter predeclares (channel, argv, ...). A compiled guest
// reads the arguments with the Go SDK's guest.Args (the environment
// variable abi.ArgsEnv carries them). A second With replaces the first.
// An invalid argument is reported by RemoteExec.
//
//	m := gateway.Source("channel.send(n * factor)").With(map[string]any{"n": 21, "factor": 2})
func (m Module) With(args map[string]any) Module {
	a, err := encodeArgs(args, m.prog != nil)
	if err != nil {
		m.err = fmt.Errorf("typed arguments: %w", err)
		return m
	}
	m.args = a
	if m.prog != nil {
		p := *m.prog
		p.Compiled = starlarkprog.Compile(p.File, p.Source, a.names()...)
		m.prog = &p
	}
	return m
}

var errArgsChannel = errors.New("a channel cannot be an argument: send it on the execution's channel")

func encodeArgs(args map[string]any, source bool) (*moduleArgs, error) {
	a := &moduleArgs{}
	for name := range args {
		if source {
			if err := starlarkprog.CheckArgName(name); err != nil {
				return nil, err
			}
		}
		a.sorted = append(a.sorted, name)
	}
	slices.Sort(a.sorted)
	b, err := channel.Marshal(args)
	if err != nil {
		return nil, err
	}
	if len(b) > maxArgsBytes {
		return nil, fmt.Errorf("%d bytes encoded, more than %d", len(b), maxArgsBytes)
	}
	if err := channel.ChannelIDs(b, func(uint32) error { return errArgsChannel }); err != nil {
		return nil, err
	}
	a.encoded = b
	return a, nil
}
