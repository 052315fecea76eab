package host

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/channel"
)

func frame(typ, flags byte, id uint32, payload []byte) []byte {
	b := []byte{typ, flags, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[2:], id)
	binary.BigEndian.PutUint32(b[6:], uint32(len(payload)))
	return append(b, payload...)
}

func hello(t *testing.T, proto int) []byte {
	body, err := msgpack.Marshal(map[string]any{"proto": proto, "role": 1, "window": 1 << 20, "max_frame": 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return frame(1, 0, 0, append([]byte("WASMNET\x00"), body...))
}

// serveBytes runs an agent on a connection fed with input and returns what
// Serve returned. A hang or a panic fails the test.
func serveBytes(t *testing.T, input []byte) error {
	t.Helper()
	client, agent := net.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Serve(context.Background(), agent, NewConfig().WithoutCompilationCache())
	}()
	// The agent's hello is read first, so that its write cannot fail on
	// the close below and hide the error the input causes.
	greeted := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for n := 0; ; n++ {
			if _, err := client.Read(buf); err != nil {
				return
			}
			if n == 0 {
				close(greeted)
			}
		}
	}()
	<-greeted
	client.Write(input)
	client.Close()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func TestServeMalformedInput(t *testing.T) {
	valid := hello(t, channel.ProtocolVersion)
	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"garbage", []byte("bash: wasmnet: command not found\n"), "did not start with a wasmnet hello"},
		{"empty", nil, "hello"},
		{"wrong version", hello(t, 99), "protocol mismatch"},
		{"truncated header", append(valid, 3, 0, 0), "truncated frame header"},
		{"truncated payload", append(valid, frame(3, 0, 1, []byte("abcdef"))[:13]...), "truncated data frame"},
		{"oversized", append(valid, 3, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff), "exceeds the limit"},
		{"unknown type", append(valid, frame(99, 0, 0, nil)...), "unexpected frame type 99"},
		{"data for unopened channel", append(valid, frame(3, 0, 7, []byte{0xc0})...), "never opened"},
		{"second hello", append(valid, valid...), "unexpected hello"},
		{"open out of order", append(append(valid, frame(2, 0, 5, nil)...), frame(2, 0, 3, nil)...), "out of order"},
		{"agent-parity open", append(valid, frame(2, 0, 2, nil)...), "out of order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := serveBytes(t, tt.input)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestServeCleanEOF(t *testing.T) {
	if err := serveBytes(t, hello(t, channel.ProtocolVersion)); err != nil {
		t.Fatalf("a client that says hello and leaves: got %v, want nil", err)
	}
}
