package host

import (
	"context"
	"os"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// BenchmarkExecEcho is one RemoteExec of the Go echo reactor and one item
// echoed, on an agent in this process: what a kept instance saves, without
// processes and pipes around it.
func BenchmarkExecEcho(b *testing.B) {
	wasm, err := os.ReadFile(testwasm.GoReactor(b, "echo"))
	if err != nil {
		b.Fatal(err)
	}
	a := startAgent(b, NewConfig())
	item, _ := msgpack.Marshal(1)
	ctx := context.Background()
	one := func() {
		ch := a.exec(b, wasm, wire.ExecRequest{})
		if err := ch.SendRaw(ctx, item); err != nil {
			b.Fatal(err)
		}
		if _, err := ch.ReceiveRaw(ctx); err != nil {
			b.Fatal(err)
		}
		ch.Close()
	}
	one() // compiles the module
	for b.Loop() {
		one()
	}
}
