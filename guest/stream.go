package guest

import (
	"fmt"
	"io"
)

// Reader returns a reader of the channel's items concatenated, as the
// client's channel.Channel.Reader and execnet's channel.makefile("r") do:
// each item must be a string or a byte string. Read returns io.EOF once the
// peer closed the channel (or its sending side) and every item was read,
// and the *RemoteError of a close with error. An item of another type is
// an error, and the item is lost.
//
// A Reader keeps the unread rest of one item; use one Reader per channel,
// and do not mix it with Receive.
func (c *Chan) Reader() io.Reader { return &chanReader{c: c} }

type chanReader struct {
	c    *Chan
	rest []byte
}

func (r *chanReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(r.rest) == 0 {
		v, err := r.c.Receive()
		if err != nil {
			return 0, err
		}
		switch x := v.(type) {
		case []byte:
			r.rest = x
		case string:
			r.rest = []byte(x)
		default:
			return 0, fmt.Errorf("guest: reader on channel %d got a %T item, want bytes or string", r.c.h, v)
		}
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// Writer returns a writer that sends each Write as one byte-string item,
// as the client's channel.Channel.Writer and execnet's
// channel.makefile("w") do. Its Close closes the channel; a Write that
// exceeds the agent's message size fails as Send does.
func (c *Chan) Writer() io.WriteCloser { return chanWriter{c} }

type chanWriter struct{ c *Chan }

func (w chanWriter) Write(p []byte) (int, error) {
	if err := w.c.Send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w chanWriter) Close() error { return w.c.Close() }
