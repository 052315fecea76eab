package channel

import (
	"context"
	"fmt"
	"io"
)

// Reader returns a reader of the channel's items concatenated: each item
// must be a string or byte string. It returns io.EOF at a normal close and
// the *RemoteError of a close with error.
func (c *Channel) Reader() io.Reader { return &channelReader{c: c} }

type channelReader struct {
	c    *Channel
	rest []byte
}

func (r *channelReader) Read(p []byte) (int, error) {
	for len(r.rest) == 0 {
		v, err := r.c.Receive(context.Background())
		if err != nil {
			return 0, err
		}
		switch x := v.(type) {
		case []byte:
			r.rest = x
		case string:
			r.rest = []byte(x)
		default:
			return 0, fmt.Errorf("channel: reader got an item of type %T, want bytes or string", v)
		}
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// Writer returns a writer that sends each Write as one byte-string item;
// its Close closes the channel.
func (c *Channel) Writer() io.WriteCloser { return channelWriter{c} }

type channelWriter struct{ c *Channel }

func (w channelWriter) Write(p []byte) (int, error) {
	if err := w.c.Send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w channelWriter) Close() error { return w.c.Close() }
