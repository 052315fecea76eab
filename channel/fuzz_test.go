package channel

import (
	"bytes"
	"context"
	"net"
	"reflect"
	"testing"
	"time"
)

// FuzzValue checks that decoding any bytes either fails cleanly or yields a
// value that encodes to bytes decoding to the same value.
func FuzzValue(f *testing.F) {
	for _, v := range []any{nil, true, int64(-33), uint64(1 << 63), 1.25, "s", []byte{1},
		[]any{int64(1), []any{"x"}}, map[string]any{"k": map[any]any{int64(1): "v"}}} {
		b, err := Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xd6, 0x01, 0, 0, 0, 7}) // a channel value
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := ChannelIDs(b, func(uint32) error { return nil })
		v, derr := decodeValue(b, nil)
		// What decodes is well-formed; the converse fails only for
		// channels outside a connection and keys Go maps cannot hold.
		if derr == nil && err != nil {
			t.Fatalf("decodeValue accepts what ChannelIDs refuses: %v", err)
		}
		if derr != nil {
			return
		}
		again, err := Marshal(v)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", v, err)
		}
		w, err := decodeValue(again, nil)
		if err != nil || !reflect.DeepEqual(v, w) && !hasNaN(again) {
			t.Fatalf("round trip: %#v -> %x -> %#v, %v", v, again, w, err)
		}
	})
}

// hasNaN is a loose check: NaN never equals itself, so a value with a
// float in it may fail DeepEqual after a correct round trip.
func hasNaN(b []byte) bool { return bytes.ContainsAny(b, "\xca\xcb") }

// FuzzFrame feeds arbitrary bytes after a valid hello to an agent-side mux:
// it must end with an error or keep running, never panic or hang.
func FuzzFrame(f *testing.F) {
	f.Add(appendHeader(nil, frameOpen, 0, 1, 0))
	f.Add(append(appendHeader(appendHeader(nil, frameOpen, 0, 1, 0), frameData, 0, 1, 1), 0xc0))
	f.Add(append(appendHeader(nil, frameClose, flagError, 1, 3), "err"...))
	f.Add(append(appendHeader(nil, frameRequest, 3, 1, 2), 0x91, 0xc0))
	f.Add(appendHeader(nil, framePing, 0, 9, 0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, input []byte) {
		client, agent := net.Pipe()
		defer client.Close()
		handler := HandlerFunc(func(context.Context, *Mux, uint8, []byte) ([]byte, error) { return nil, nil })
		ready := make(chan *Mux, 1)
		go func() {
			m, _ := NewMux(context.Background(), agent, RoleAgent, &Config{MaxFrame: 1 << 16, Window: 1 << 12, Handler: handler})
			ready <- m
		}()
		go drain(client)
		body, _ := Marshal(&Hello{Proto: ProtocolVersion, Role: RoleClient, Window: 1 << 12, MaxFrame: 1 << 16})
		client.Write(append(appendHeader(nil, frameHello, 0, 0, len(helloMagic)+len(body)), append([]byte(helloMagic), body...)...))
		m := <-ready
		if m == nil {
			t.Fatal("valid hello refused")
		}
		client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		client.Write(input)
		client.Close()
		done := make(chan struct{})
		go func() {
			m.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("mux did not end after its connection closed")
		}
	})
}

func drain(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}
