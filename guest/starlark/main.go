// Command starlark is the source guest of wasmnet: a Starlark interpreter
// (go.starlark.net) built for GOOS=wasip1 GOARCH=wasm on the Go guest SDK.
// The client embeds it and runs it like any module, addressed by its
// sha256; gateway.Source and `wasmnet run -c` use it.
//
// The first message on the main channel is the program, a map
// {"file": str, "source": str, "compiled": bin, "clock": bool, "args": bin}: the source
// and, when the client compiled it, the compiled program
// (internal/starlarkprog); the program then runs with these predeclared
// names:
//
//   - channel: the main channel, with send(v), receive(timeout=None,
//     default=...), close(error=None); iterating over it receives until it
//     is closed or the peer closes its sending side;
//   - newchannel(): opens a channel, to be sent inside a value;
//   - print: lines go to the guest's stdout, which reaches the client's
//     output tagged with the gateway;
//   - json, math, time: starlark-go's library; time.now() works only when
//     the client granted the clock ("clock": true, WithWalltime);
//   - argv: the guest's arguments after the program name;
//   - the program's typed arguments ("args": a msgpack map, from
//     gateway's Module.With), each under its name as a Starlark value.
//
// A program that fails closes the main channel with an error whose text is
// the Starlark backtrace (file:line:col of each frame); the client receives
// it as a *channel.RemoteError.
//
// Build it (make starlark does) as a reactor, which an agent starts from
// an image of its initialised state, the interpreter's start-up program
// included (warm.go):
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o starlark.wasm ./guest/starlark
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.starlark.net/lib/json"
	"go.starlark.net/lib/math"
	starlarktime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"

	"github.com/wasmnet/wasmnet/guest"
	"github.com/wasmnet/wasmnet/internal/starlarkprog"
)

// program is the first message a client sends.
type program = starlarkprog.Program

func main() {
	ch := guest.Channel()
	var p program
	if err := ch.ReceiveInto(&p); err != nil {
		if !errors.Is(err, io.EOF) {
			ch.CloseWithError("starlark: the first message must be the program {file, source}: " + err.Error())
		}
		return
	}
	if err := run(ch, &p); err != nil {
		ch.CloseWithError(errorText(err))
	}
}

// run runs p with ch as its channel. A program that closed its channel
// and then failed cannot report on it any more: its error goes to stderr,
// which the client shows tagged with the gateway, rather than nowhere.
func run(ch *guest.Chan, p *program) error {
	thread := newThread(p, func(_ *starlark.Thread, msg string) { fmt.Println(msg) })
	cv := newChannel(thread, ch)
	err := execProgram(thread, p, cv)
	if err != nil && cv.closed {
		fmt.Fprintln(os.Stderr, errorText(err))
	}
	return err
}

// newThread returns the thread a program runs on, printing with print.
func newThread(p *program, print func(*starlark.Thread, string)) *starlark.Thread {
	if p.File == "" {
		p.File = "<source>"
	}
	thread := &starlark.Thread{Name: p.File, Print: print}
	if !p.Clock {
		starlarktime.SetNow(thread, func() (time.Time, error) {
			return time.Time{}, errors.New("time.now: the clock is not granted to this guest (the client grants it with gateway.WithWalltime)")
		})
	}
	return thread
}

// execProgram runs p on thread with channel as its channel.
func execProgram(thread *starlark.Thread, p *program, channel starlark.Value) error {
	args := []starlark.Value{}
	for _, a := range os.Args[1:] {
		args = append(args, starlark.String(a))
	}
	predeclared := starlark.StringDict{
		"channel":    channel,
		"newchannel": starlark.NewBuiltin("newchannel", newChannelBuiltin),
		"json":       json.Module,
		"math":       math.Module,
		"time":       starlarktime.Module,
		"argv":       starlark.NewList(args),
	}
	if err := predeclareArgs(thread, p.Args, predeclared); err != nil {
		return err
	}
	// Compiled by the client: decoding costs a third of compiling, which
	// the guest, compiled to WebAssembly, does ten times slower than the
	// client does natively. A compiled form this interpreter cannot read
	// (another go.starlark.net made it) leaves the source.
	if len(p.Compiled) > 0 {
		if prog, err := starlark.CompiledProgram(bytes.NewReader(p.Compiled)); err == nil {
			_, err = prog.Init(thread, predeclared)
			return err
		}
	}
	_, err := starlark.ExecFileOptions(starlarkprog.FileOptions(), thread, p.File, p.Source, predeclared)
	return err
}

// predeclareArgs adds the program's typed arguments to predeclared, as
// Starlark values. A name the guest predeclares itself stays the guest's:
// the client refuses it, so only a foreign client sends one.
func predeclareArgs(thread *starlark.Thread, b []byte, predeclared starlark.StringDict) error {
	if len(b) == 0 {
		return nil
	}
	args, err := guest.DecodeArgs(b)
	if err != nil {
		return fmt.Errorf("starlark: %s", trimGuest(err))
	}
	for name, v := range args {
		if err := starlarkprog.CheckArgName(name); err != nil {
			return fmt.Errorf("starlark: %w", err)
		}
		sv, err := toStarlark(thread, v, 0)
		if err != nil {
			return fmt.Errorf("starlark: argument %q: %w", name, err)
		}
		predeclared[name] = sv
	}
	return nil
}

// errorText is what the client sees of a failed program: the backtrace of
// an evaluation error, the positions of syntax and resolve errors.
func errorText(err error) string {
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		return ee.Backtrace()
	}
	return err.Error()
}
