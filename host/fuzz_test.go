package host

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// FuzzServeRequest sends arbitrary request bodies of every kind but
// terminate to an agent, over the wire: each is answered (most with an
// error), and the agent keeps serving. Hops, rsync and directory grants are
// refused, so that no fuzzed body runs a command or writes a file.
func FuzzServeRequest(f *testing.F) {
	for kind, v := range map[uint8]any{
		wire.KindExec:    &wire.ExecRequest{Channel: 1, Module: "00", Args: []string{"a"}},
		wire.KindModule:  &wire.ModuleUpload{Module: "00", Bytes: []byte("\x00asm\x01\x00\x00\x00")},
		wire.KindStatus:  nil,
		wire.KindDial:    &wire.DialRequest{Channel: 1, Network: "tcp", Address: "127.0.0.1:1"},
		wire.KindCommand: &wire.CommandRequest{Channel: 1, Argv: []string{"true"}},
		wire.KindRSync:   &wire.RSyncRequest{Channel: 1, Dest: "x"},
	} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(kind, b)
	}
	f.Add(wire.KindExec, append(make([]byte, 1<<12), 0x90))
	client, agent := net.Pipe()
	done := make(chan error, 1)
	go func() {
		cfg := NewConfig().WithoutCompilationCache().WithoutHops().WithoutRSync().WithoutDirGrants()
		done <- Serve(context.Background(), agent, cfg)
	}()
	m, err := channel.NewMux(context.Background(), client, channel.RoleClient, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		m.Close()
		<-done
	})
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		if kind == wire.KindTerminate {
			kind = wire.KindStatus
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m.Call(ctx, kind, body)
		if _, err := m.Call(ctx, wire.KindStatus, nil); err != nil {
			t.Fatalf("the agent stopped serving after a kind %d request of %d bytes: %v", kind, len(body), err)
		}
	})
}
