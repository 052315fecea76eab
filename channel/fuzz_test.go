package channel

import (
	"bufio"
	"bytes"
	"context"
	"math/big"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/wire"
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
	for _, v := range []any{new(big.Int).Lsh(big.NewInt(1), 80), new(big.Int).Lsh(big.NewInt(-3), 8*MaxBigIntBytes-2),
		map[any]any{[2]any{int64(1), "x"}: true}} {
		b, err := Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xc7, 0x09, 0x02, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) // a big int that fits 64 bits
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

// FuzzHello feeds arbitrary bytes as the peer's hello: readHello refuses
// them with an error or accepts a valid hello, and never panics.
func FuzzHello(f *testing.F) {
	body, _ := Marshal(&Hello{Proto: ProtocolVersion, Role: RoleClient, Window: 1 << 12, MaxFrame: 1 << 16, KeepAliveTimeout: 1000})
	f.Add(append(appendHeader(nil, frameHello, 0, 0, len(helloMagic)+len(body)), append([]byte(helloMagic), body...)...))
	f.Add([]byte("bash: wasmnet: command not found\n"))
	f.Add(append(appendHeader(nil, frameHello, 0, 0, len(helloMagic)+5), helloMagic+"\x91\x91\x91\x91\x90"...))
	f.Fuzz(func(t *testing.T, input []byte) {
		m := &Mux{role: RoleAgent, cfg: DefaultConfig(), br: bufio.NewReader(bytes.NewReader(input))}
		if err := m.readHello(); err == nil {
			if m.peer.Role != RoleClient || m.peer.Window < 1024 || m.peer.MaxFrame < 1024 || m.peer.KeepAliveTimeout < 0 ||
				m.peer.Window > m.cfg.Window || m.peer.MaxFrame > m.cfg.MaxFrame {
				t.Fatalf("accepted hello %+v", m.peer)
			}
		}
	})
}

// FuzzBody decodes arbitrary bytes as each request, answer and notification
// body the peers exchange, the way host and gateway decode them.
func FuzzBody(f *testing.F) {
	seeds := []any{
		&wire.ExecRequest{Channel: 1, Module: "ab", Args: []string{"x"}, Dirs: []wire.DirGrant{{Host: "/a", Guest: "/b"}}, TimeLimit: 5},
		&wire.ExecReply{NeedModule: true}, &wire.ModuleUpload{Module: "ab", Bytes: []byte{0, 'a', 's', 'm'}},
		&wire.Output{Channel: 3, Stream: 2, Data: []byte("out\n")}, &wire.Status{Version: "v", ABI: []int{1}, Channels: 2},
		&wire.DialRequest{Channel: 1, Network: "tcp", Address: "127.0.0.1:22"},
		&wire.CommandRequest{Channel: 1, Argv: []string{"@self", "agent"}}, &wire.RSyncRequest{Channel: 1, Dest: "d"},
		[]wire.RSyncEntry{{Path: "a", Mode: 0o644, Size: 3, SHA256: make([]byte, 32)}}, []string{"a"}, &wire.RSyncSummary{Files: 1},
	}
	for i, v := range seeds {
		b, err := Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	f.Add(uint8(0), deepArray(1<<12))
	f.Add(uint8(8), claimingArrays(8, 64))
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		var dst any
		switch kind % 11 {
		case 0:
			dst = new(wire.ExecRequest)
		case 1:
			dst = new(wire.ExecReply)
		case 2:
			dst = new(wire.ModuleUpload)
		case 3:
			dst = new(wire.Output)
		case 4:
			dst = new(wire.Status)
		case 5:
			dst = new(wire.DialRequest)
		case 6:
			dst = new(wire.CommandRequest)
		case 7:
			dst = new(wire.RSyncRequest)
		case 8:
			dst = new([]wire.RSyncEntry)
		case 9:
			dst = new([]string)
		case 10:
			dst = new(wire.RSyncSummary)
		}
		if err := UnmarshalInto(b, dst); err == nil {
			// What decodes is one well-formed value.
			if err := checkValue(b); err != nil {
				t.Fatalf("decoded a value checkValue refuses: %v", err)
			}
		}
	})
}
