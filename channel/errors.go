package channel

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

var (
	// ErrClosed is wrapped by the error of an operation on a channel that
	// is closed, by either side.
	ErrClosed = errors.New("channel: closed")
	// ErrCallback is returned by Receive on a channel that has a callback.
	ErrCallback = errors.New("channel: receive on a channel with a callback")
	// ErrMuxClosed is the cause of a multiplexer that was closed locally.
	ErrMuxClosed = errors.New("channel: connection closed")
	// ErrKeepAliveTimeout is wrapped by the cause of a multiplexer whose
	// peer was silent for longer than Config.KeepAliveTimeout.
	ErrKeepAliveTimeout = errors.New("channel: keepalive timeout")
	// ErrPeerNotReading is wrapped by the cause of a multiplexer whose peer
	// left more control frames (pongs, window credit, refusals, answers)
	// unread than this side holds for it.
	ErrPeerNotReading = errors.New("channel: the peer does not read what it is sent")
	// ErrTooManyRequests is wrapped by the error a request is answered
	// with when the peer already has as many being served as it may.
	ErrTooManyRequests = errors.New("channel: too many requests being served")
)

// RemoteError is the error a peer closed a channel with: a guest's panic or
// trap text, or the text given to CloseWithError.
type RemoteError struct {
	Message string
}

func (e *RemoteError) Error() string { return "remote error: " + e.Message }

// FrameSizeError reports a message or frame larger than the negotiated limit.
type FrameSizeError struct {
	Size, Limit int
}

func (e *FrameSizeError) Error() string {
	return fmt.Sprintf("channel: message of %d bytes exceeds the limit of %d bytes", e.Size, e.Limit)
}

// connLostError is what a channel reports once its connection has died. It
// wraps io.EOF, so that loops ending on errors.Is(err, io.EOF) end, but it
// is never io.EOF itself: a lost agent is not a clean end of stream.
type connLostError struct{ cause error }

func (e *connLostError) Error() string   { return "channel: connection lost: " + e.cause.Error() }
func (e *connLostError) Unwrap() []error { return []error{io.EOF, e.cause} }

// maxErrorText bounds the error text of a close or a request's answer, so
// that a guest's 65 MiB panic message cannot make a frame the peer refuses.
const maxErrorText = 64 << 10

// cutErrorText returns msg, cut to maxErrorText bytes and marked as cut.
func cutErrorText(msg string) []byte {
	if len(msg) <= maxErrorText {
		return []byte(msg)
	}
	const mark = "... [error text cut: 00000 of 0000000000 bytes shown]"
	cut := maxErrorText - len(mark)
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return []byte(msg[:cut] + fmt.Sprintf("... [error text cut: %d of %d bytes shown]", cut, len(msg)))
}
