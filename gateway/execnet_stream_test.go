package gateway

import (
	"strings"
	"testing"
)

// A guest reads its channel as a byte stream in short reads that split and
// join items, and writes through the channel's writer, in every SDK: Go's
// io.Reader and io.Writer, C's wasmnet_stream_read and _write, Rust's
// std::io::Read and Write.
//
// execnet: testing/test_channel.py::TestChannelFile::test_channel_file_read
// and ::test_channel_file_write
func TestGuestChannelAsStream(t *testing.T) {
	g := popen(t, "popen")
	for lang, m := range everySDK(t, "stream") {
		t.Run(lang, func(t *testing.T) {
			ch, err := g.RemoteExec(testCtx(t), m)
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			in := []any{"xy", []byte("abcdefg"), "", "hello world\n"}
			for _, v := range in {
				if err := ch.Send(v); err != nil {
					t.Fatal(err)
				}
			}
			if err := ch.CloseSend(); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			for {
				v := receive(t, ch)
				if n, ok := v.(int64); ok {
					if n != 21 {
						t.Fatalf("the guest read %d bytes, want 21", n)
					}
					break
				}
				b, ok := v.([]byte)
				if !ok || len(b) == 0 || len(b) > 5 {
					t.Fatalf("got item %#v, want 1 to 5 bytes: one read of the guest", v)
				}
				out.Write(b)
			}
			if want := "XYABCDEFGHELLO WORLD\n"; out.String() != want {
				t.Fatalf("got %q back, want %q", out.String(), want)
			}
			if err := ch.WaitClose(testCtx(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// An item that is not bytes fails the guest's read with an error the
// client sees.
//
// execnet: testing/test_channel.py::TestChannelFile::test_channel_file_read
func TestGuestStreamRefusesOtherItems(t *testing.T) {
	g := popen(t, "popen")
	for lang, m := range everySDK(t, "stream") {
		t.Run(lang, func(t *testing.T) {
			ch, err := g.RemoteExec(testCtx(t), m)
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			ch.Send("ab")
			ch.Send(int64(7))
			if got := receive(t, ch); string(got.([]byte)) != "AB" {
				t.Fatalf("got %#v, want AB", got)
			}
			msg := remoteErr(t, ch)
			if !strings.HasPrefix(msg, "stream: ") {
				t.Fatalf("got %q, want the guest's read error", msg)
			}
		})
	}
}
