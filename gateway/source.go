package gateway

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/filepages"
	"github.com/wasmnet/wasmnet/internal/starlarkprog"
	"github.com/wasmnet/wasmnet/internal/starlarkwasm"
)

// program is a source guest's program: the interpreter receives it as the
// first message on its channel (guest/starlark documents the protocol).
type program = starlarkprog.Program

// interpreter is the embedded Starlark interpreter, hashed once.
var interpreter = sync.OnceValues(loadInterpreter)

// loadInterpreter returns the embedded interpreter as a Module that keeps
// only its sum: the one make starlark recorded, or else its bytes, 6.6 MB,
// hashed in pieces rather than copied out of the binary. They are read out
// again for the rare upload (an agent with a disk cache keeps modules it
// was sent), and checked against the sum.
func loadInterpreter() (Module, error) {
	sum, size, ok := starlarkwasm.RecordedSum()
	if !ok {
		f, err := starlarkwasm.Open()
		if err != nil {
			return Module{}, fmt.Errorf("gateway: %w", err)
		}
		defer f.Close()
		if sum, size, err = hashReader(f); err != nil {
			return Module{}, fmt.Errorf("gateway: read the interpreter: %w", err)
		}
	}
	open := func() (io.ReadCloser, error) {
		f, err := starlarkwasm.Open()
		if err != nil {
			return nil, err
		}
		return embeddedFile{f}, nil
	}
	return Module{name: "starlark.wasm", sum: sum, size: size, open: open}, nil
}

// embeddedFile is the interpreter read out of this binary for an upload.
// Reading it brings its 6.6 MB of the executable into the client's
// resident memory, where they stayed for the rest of its life: a third of
// what a client that ran one source guest on a fresh agent weighed. Once
// read, they are given back to the page cache they came from.
type embeddedFile struct{ fs.File }

func (f embeddedFile) Close() error {
	err := f.File.Close()
	filepages.Drop()
	return err
}

// Interpreter returns the Starlark interpreter shipped with wasmnet: a
// module like any other, which Source and SourceFile pair with a program.
// It fails only in a build made without it (plain go build, not make).
func Interpreter() (Module, error) { return interpreter() }

// Source returns a Module that runs src, a Starlark program (the Python
// dialect of go.starlark.net), in the interpreter shipped with wasmnet. It
// is used wherever a Module is: RemoteExec, Group.RemoteExec, every
// ExecOption. The agent receives the interpreter once, addressed by its
// sha256, and compiles it once; each execution then costs what starting
// any Go guest costs, plus running src, which the client compiled once.
//
// Inside, the program has channel (send, receive(timeout, default), close,
// iteration), newchannel(), print (to the gateway's output), argv, the
// json, math and time modules (time.now() needs WithWalltime), and the
// typed arguments given with Module.With. A program
// that fails closes its channel with a *channel.RemoteError whose text is
// the Starlark backtrace. guest/starlark/main.go has the details.
//
//	ch, err := gw.RemoteExec(ctx, gateway.Source("channel.send(channel.receive() * 2)"))
func Source(src string) Module { return SourceFile("<source>", src) }

// SourceFile is Source for a program read from a file: name is the file
// name its errors and backtraces show.
func SourceFile(name, src string) Module {
	interp, err := Interpreter()
	if err != nil {
		return Module{name: name, err: err}
	}
	return interp.WithSource(name, src)
}

// WithSource returns a Module that runs src, named name in backtraces, in
// m, which must be a Starlark interpreter speaking guest/starlark's
// protocol: Interpreter(), or a build of guest/starlark of one's own.
func (m Module) WithSource(name, src string) Module {
	m.name = name
	// Compiled here, once per Module, rather than by the guest at every
	// execution (RATIONALE.md, "Why does the client compile source?").
	m.prog = &program{File: name, Source: src, Compiled: starlarkprog.Compile(name, src, m.args.names()...)}
	return m
}

// IsSource reports whether m runs a program given as source.
func (m Module) IsSource() bool { return m.prog != nil }

// sendProgram hands a source module's program to the interpreter that
// just started on ch.
func sendProgram(ctx context.Context, ch *channel.Channel, m Module, req *execRequest) error {
	if m.prog == nil {
		return nil
	}
	p := *m.prog
	p.Clock = req.Walltime
	if m.args != nil {
		p.Args = m.args.encoded
	}
	if err := ch.SendContext(ctx, &p); err != nil {
		return fmt.Errorf("send the program: %w", err)
	}
	return nil
}
