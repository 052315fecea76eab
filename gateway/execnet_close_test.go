package gateway

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
)

// A program may close its own channel and end normally: the client
// receives what was sent, then end of stream, and no error. execnet raises
// "cannot explicitly close channel within remote_exec" instead
// (RATIONALE.md, "Why may a program close its own channel?").
//
// execnet: testing/test_channel.py::TestChannelFile::test_channel_file_proxyclose
func TestSourceProgramClosesItsChannel(t *testing.T) {
	g := popen(t, "popen")
	ch := runSource(t, g, "channel.send('hello world')\nchannel.close()\n")
	if v := receive(t, ch); v != "hello world" {
		t.Fatalf("got %#v, want \"hello world\"", v)
	}
	if _, err := ch.Receive(testCtx(t)); !errors.Is(err, io.EOF) {
		t.Fatalf("Receive after the program's close: got %v, want io.EOF", err)
	}
	if err := ch.WaitClose(testCtx(t)); err != nil {
		t.Fatalf("WaitClose: got %v, want nil: the program ended normally", err)
	}
}

// A program that goes on using its channel after closing it fails, as
// execnet's send after a proxyclose does; the channel is closed already, so
// the failure reaches the user on the gateway's output.
//
// execnet: testing/test_channel.py::TestChannelFile::test_channel_file_proxyclose
func TestSourceSendAfterOwnClose(t *testing.T) {
	out := &testutil.SyncBuffer{}
	g := popen(t, "popen", WithOutput(out))
	ch := runSource(t, g, "channel.send('hello world')\nchannel.close()\nchannel.send(42)\n")
	if v := receive(t, ch); v != "hello world" {
		t.Fatalf("got %#v, want \"hello world\"", v)
	}
	if err := ch.WaitClose(testCtx(t)); err != nil {
		t.Fatalf("WaitClose: got %v, want nil: the channel was closed before the failure", err)
	}
	// The output comes in notifications that may follow the close: wait
	// for it, bounded by the test's context.
	ctx := testCtx(t)
	for !strings.Contains(out.String(), "send: ") {
		select {
		case <-ctx.Done():
			t.Fatalf("output %q does not report the failed send", out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
