package guest

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/wasmnet/wasmnet/abi"
)

var (
	// ErrClosed is wrapped by the error of Send when the channel is closed,
	// by this side or by the peer. Receive reports a normal close as io.EOF.
	ErrClosed = errors.New("guest: channel closed")

	// ErrTimeout is wrapped by the error of ReceiveTimeout when no message
	// arrived in time; the channel stays usable. It also matches
	// os.ErrDeadlineExceeded under errors.Is and has a Timeout method that
	// reports true, as net errors do.
	ErrTimeout error = timeoutError{}
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "guest: receive timed out" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func (timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// RemoteError is returned once by Receive when the peer closed the channel
// with an error; Message is the peer's text. Receive returns io.EOF after it.
type RemoteError struct {
	Message string
}

func (e *RemoteError) Error() string { return "guest: remote error: " + e.Message }

// codeError is an ABI result code with no sentinel of its own.
type codeError abi.Result

func (c codeError) Error() string {
	return fmt.Sprintf("guest: %s (result %d)", abi.Result(c), int32(c))
}

// opError says which call on which channel failed. Its err is ErrClosed,
// ErrTimeout, a codeError naming the ABI result, or a decoding error. A
// negative h names no channel (opening one failed).
type opError struct {
	op  string
	h   int32
	err error
}

func (e *opError) Error() string {
	msg := strings.TrimPrefix(e.err.Error(), "guest: ")
	if e.h < 0 {
		return fmt.Sprintf("guest: %s: %s", e.op, msg)
	}
	return fmt.Sprintf("guest: %s on channel %d: %s", e.op, e.h, msg)
}

func (e *opError) Unwrap() error { return e.err }

// Timeout reports whether the call timed out, for callers that test for a
// net.Error-like Timeout method.
func (e *opError) Timeout() bool { return e.err == ErrTimeout }

// resultError maps a negative result of a host call op on handle h to an
// error. It returns nil for Ok and for handles (non-negative results).
func resultError(op string, h int32, r abi.Result) error {
	var err error
	switch {
	case r >= 0:
		return nil
	case r == abi.ErrClosed:
		err = ErrClosed
	case r == abi.ErrTimeout:
		err = ErrTimeout
	default:
		err = codeError(r)
	}
	return &opError{op: op, h: h, err: err}
}
