package gateway

import (
	"context"
	"io"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/internal/wire"
)

// FuzzClientNotification hands arbitrary bodies to what serves the
// agent's notifications on the client: refused or written, never a panic.
func FuzzClientNotification(f *testing.F) {
	b, _ := msgpack.Marshal(&wire.Output{Channel: 1, Stream: 1, Data: []byte("line\npartial")})
	f.Add(wire.KindOutput, b)
	f.Add(wire.KindOutput, []byte{0x93, 0x01, 0x02, 0xc4, 0x00})
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		g := &Gateway{id: "gw", output: newOutputTagger("gw", io.Discard)}
		g.serve(context.Background(), nil, kind, body)
		g.output.flush()
	})
}
