package guest

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/wasmnet/wasmnet/abi"
)

// Chan is a channel the guest holds: the one it was started with, one it
// opened, or one it received inside a message. It is a small value naming a
// handle; two *Chan with the same handle are the same channel.
//
// A *Chan may be sent inside any value (a struct field, a slice, a map); it
// crosses as the msgpack extension abi.ChannelExtType.
//
// The methods are safe to call from several goroutines. A blocking Receive
// blocks the whole guest, as every host call does in wasm: the other
// goroutines do not run until it returns.
type Chan struct {
	h int32
}

const (
	// recvStart is the first size of the receive buffer.
	recvStart = 64 << 10
	// sendKeep is the largest send buffer kept between calls; a bigger one,
	// left by an unusual message, is dropped so it can be collected.
	sendKeep = 1 << 20
)

// The send side: one encoder writing into one reused buffer.
var (
	sendMu  sync.Mutex // guards sendBuf and sendEnc
	sendBuf bytes.Buffer
	sendEnc = newEncoder(&sendBuf)
)

// The receive side: one buffer that grows to the largest message seen, and
// one decoder reading from it. Received values never alias the buffer.
var (
	recvMu     sync.Mutex // guards recvBuf, recvReader, recvDec (and recvLen on wasip1)
	recvBuf    []byte
	recvReader bytes.Reader
	recvDec    = msgpack.NewDecoder(nil)
)

var (
	mainOnce sync.Once
	mainChan *Chan
)

// Channel returns the channel this execution was started with.
func Channel() *Chan {
	mainOnce.Do(func() {
		tuneGC()
		mainChan = &Chan{h: hostMain()}
	})
	return mainChan
}

// NewChannel opens a new channel. Send it to the peer inside a message so
// that the peer can use it.
func NewChannel() (*Chan, error) {
	r := hostNew()
	if err := resultError("open channel", -1, r); err != nil {
		return nil, err
	}
	return &Chan{h: int32(r)}, nil
}

// Handle returns the ABI handle of c.
func (c *Chan) Handle() int32 { return c.h }

// String returns "chan <handle>".
func (c *Chan) String() string { return fmt.Sprintf("chan %d", c.h) }

// Send encodes v as one msgpack value and sends it. It blocks while the
// peer's flow-control window is full. After either side closed the channel
// the error wraps ErrClosed.
//
// Strings encode as str, []byte as bin, integers in their smallest form
// (a *big.Int beyond 64 bits as abi.BigIntExtType), Go arrays as arrays,
// structs as maps by field name (msgpack struct tags apply).
func (c *Chan) Send(v any) error {
	sendMu.Lock()
	defer sendMu.Unlock()
	sendBuf.Reset()
	if err := sendEnc.Encode(v); err != nil {
		return fmt.Errorf("guest: send on channel %d: encode %T: %w", c.h, v, err)
	}
	err := resultError("send", c.h, hostSend(c.h, sendBuf.Bytes()))
	if sendBuf.Cap() > sendKeep {
		sendBuf = bytes.Buffer{}
	}
	return err
}

// Receive waits for the next message and decodes it into a Go value:
//
//   - nil, bool, string, []byte (msgpack bin), float64 (float32 too);
//   - int64 for every integer, and uint64 only for one above math.MaxInt64;
//   - *big.Int for an integer beyond 64 bits (abi.BigIntExtType);
//   - []any for arrays; map[string]any for maps whose keys are all strings
//     (bin keys count as strings), map[any]any for other maps, where a key
//     that is an array (a Python or Starlark tuple) is a Go array, [n]any;
//   - *Chan for a channel.
//
// After the peer closed the channel normally and every message was read,
// Receive returns io.EOF. If the peer closed it with an error, Receive
// returns a *RemoteError with its text once, then io.EOF.
func (c *Chan) Receive() (any, error) {
	var v any
	err := c.receive(abi.NoTimeout, &v)
	return v, err
}

// ReceiveTimeout is Receive that waits at most d (d <= 0 only polls). When
// no message came in time the error satisfies errors.Is(err, ErrTimeout)
// and errors.Is(err, os.ErrDeadlineExceeded), and the channel stays usable.
func (c *Chan) ReceiveTimeout(d time.Duration) (any, error) {
	var v any
	err := c.receive(max(d.Nanoseconds(), 0), &v)
	return v, err
}

// ReceiveInto waits for the next message and decodes it into dst, a
// pointer, with msgpack's rules: a struct from a map by field names, a
// typed map, slice or number with conversion. A *any gets Receive's types,
// and so do maps decoded into any fields. It returns io.EOF and
// *RemoteError as Receive does.
func (c *Chan) ReceiveInto(dst any) error {
	return c.receive(abi.NoTimeout, dst)
}

func (c *Chan) receive(timeoutNS int64, dst any) error {
	recvMu.Lock()
	defer recvMu.Unlock()
	msg, r, err := c.receiveRaw(timeoutNS)
	switch {
	case err != nil:
		return err
	case r == abi.ErrClosed:
		return io.EOF
	case r == abi.ErrRemote:
		return &RemoteError{Message: string(msg)}
	}
	if err := unmarshal(recvDec, &recvReader, msg, dst); err != nil {
		return &opError{op: "receive", h: c.h, err: err}
	}
	return nil
}

// receiveRaw calls the host's receive into recvBuf, growing it when the
// message does not fit. It returns the message or error text and the
// result (Ok, ErrClosed or ErrRemote); any other result is an error.
func (c *Chan) receiveRaw(timeoutNS int64) ([]byte, abi.Result, error) {
	if recvBuf == nil {
		recvBuf = make([]byte, recvStart)
	}
	for {
		n, r := hostReceive(c.h, recvBuf, timeoutNS)
		switch r {
		case abi.Ok, abi.ErrRemote:
			if int(n) > len(recvBuf) {
				return nil, r, fmt.Errorf("guest: receive on channel %d: host reported %d bytes in a %d-byte buffer", c.h, n, len(recvBuf))
			}
			return recvBuf[:n], r, nil
		case abi.ErrClosed:
			return nil, r, nil
		case abi.ErrTooLarge:
			if int(n) <= len(recvBuf) {
				return nil, r, fmt.Errorf("guest: receive on channel %d: host asked for %d bytes, buffer has %d", c.h, n, len(recvBuf))
			}
			recvBuf = make([]byte, n)
		default:
			return nil, r, resultError("receive", c.h, r)
		}
	}
}

// Close closes the channel in both directions: the peer receives the
// messages already sent, then end of stream. Closing twice is not an error.
func (c *Chan) Close() error {
	return resultError("close", c.h, hostClose(c.h))
}

// CloseSend closes only the sending side, as x/crypto/ssh's CloseWrite
// does: the peer receives what was sent, then end of stream, and may go on
// sending; this guest's Receive works until the peer closes too. Send
// afterwards returns an error wrapping ErrClosed.
func (c *Chan) CloseSend() error {
	return resultError("close send", c.h, hostCloseSend(c.h))
}

// CloseWithError closes the channel like Close, but the peer's receive
// reports msg as an error (a *RemoteError for a Go peer).
func (c *Chan) CloseWithError(msg string) error {
	return resultError("close", c.h, hostCloseError(c.h, msg))
}
