package channel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// hashHandler answers a request with its body's length and sha256.
var hashHandler = HandlerFunc(func(_ context.Context, _ *Mux, _ uint8, body []byte) ([]byte, error) {
	return fmt.Appendf(nil, "%d %x", len(body), sha256.Sum256(body)), nil
})

func answerFor(body []byte) string { return fmt.Sprintf("%d %x", len(body), sha256.Sum256(body)) }

// TestCallStream: a body streamed from a reader arrives as Call's would,
// over every transport, in one frame however many chunks it is read in.
func TestCallStream(t *testing.T) {
	cfg := &Config{MaxFrame: 8 << 20, Handler: hashHandler}
	body := bytes.Repeat([]byte("0123456789abcdef"), (3<<20+7)/16)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cm, _ := muxPair(t, tr.pair, cfg, cfg)
			head := []byte("head:")
			out, err := cm.CallStream(testCtx(t), 1, head, bytes.NewReader(body), len(body))
			if want := answerFor(append(head, body...)); err != nil || string(out) != want {
				t.Fatalf("got %q, %v; want %q", out, err, want)
			}
		})
	}
}

// TestCallStreamShortBody: a reader that ends early leaves the stream in
// step: the peer gets a frame of the promised length (zeros for what was
// missing), the caller gets the read's error, and the next request on the
// connection is answered.
func TestCallStreamShortBody(t *testing.T) {
	cfg := &Config{Handler: hashHandler}
	cm, _ := muxPair(t, osPipePair, cfg, cfg)
	const promised = 200 << 10
	short := bytes.Repeat([]byte{'x'}, 70<<10)
	_, err := cm.CallStream(testCtx(t), 1, nil, bytes.NewReader(short), promised)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "short") {
		t.Fatalf("a body %d bytes short: %v", promised-len(short), err)
	}
	out, err := cm.Call(testCtx(t), 1, []byte("next"))
	if want := answerFor([]byte("next")); err != nil || string(out) != want {
		t.Fatalf("the call after a short body: %q, %v", out, err)
	}
	// And the long reader's bytes past the promise are not sent.
	long := bytes.Repeat([]byte{'y'}, 100)
	out, err = cm.CallStream(testCtx(t), 1, nil, bytes.NewReader(long), 10)
	if want := answerFor(long[:10]); err != nil || string(out) != want {
		t.Fatalf("a reader longer than promised: %q, %v; want %q", out, err, want)
	}
}

// TestCallStreamPastMaxFrame: a body the peer's frame limit refuses is not
// sent, and the reader is not read.
func TestCallStreamPastMaxFrame(t *testing.T) {
	cfg := &Config{MaxFrame: 1 << 20, Handler: hashHandler}
	cm, _ := muxPair(t, osPipePair, cfg, cfg)
	var fe *FrameSizeError
	if _, err := cm.CallStream(testCtx(t), 1, nil, errReader{}, 2<<20); !errors.As(err, &fe) {
		t.Fatalf("got %v, want a FrameSizeError", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("read") }
