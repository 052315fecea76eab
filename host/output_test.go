package host

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// TestOutputSplitBelowPeerLimit writes more in one call than the client
// accepts in a frame: it arrives whole, in notices the client accepts, and
// the connection stays up.
func TestOutputSplitBelowPeerLimit(t *testing.T) {
	var mu sync.Mutex
	var got bytes.Buffer
	pieces := 0
	client := &channel.Config{MaxFrame: 64 << 10, Handler: channel.HandlerFunc(
		func(_ context.Context, _ *channel.Mux, kind uint8, body []byte) ([]byte, error) {
			if kind != wire.KindOutput {
				return nil, errors.New("not served")
			}
			var o wire.Output
			if err := channel.UnmarshalInto(body, &o); err != nil {
				t.Error(err)
			}
			mu.Lock()
			got.Write(o.Data)
			pieces++
			mu.Unlock()
			return nil, nil
		})}
	cm, am := muxPair(t, client, nil)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	w := newOutputWriter(context.Background(), am, 1, 1, true, 0)
	if n, err := w.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	// The client handles notices on its read loop, in order: once it has
	// answered a request sent after them, it has handled them all.
	if _, err := am.Call(context.Background(), 99, nil); err == nil {
		t.Fatal("the client served a request it does not know")
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("got %d bytes of output, want %d", got.Len(), len(data))
	}
	if pieces < len(data)/(64<<10) {
		t.Fatalf("%d notices for 1 MiB under a 64 KiB limit", pieces)
	}
	if cm.Err() != nil || am.Err() != nil {
		t.Fatalf("a connection ended: %v, %v", cm.Err(), am.Err())
	}
}

func muxPair(t *testing.T, client, agent *channel.Config) (*channel.Mux, *channel.Mux) {
	t.Helper()
	a, b := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	defer cancel()
	done := make(chan *channel.Mux, 1)
	go func() {
		m, err := channel.NewMux(ctx, b, channel.RoleAgent, agent)
		if err != nil {
			t.Error(err)
		}
		done <- m
	}()
	cm, err := channel.NewMux(ctx, a, channel.RoleClient, client)
	if err != nil {
		t.Fatal(err)
	}
	am := <-done
	if am == nil {
		t.FailNow()
	}
	t.Cleanup(func() {
		cm.Close()
		am.Close()
	})
	return cm, am
}
