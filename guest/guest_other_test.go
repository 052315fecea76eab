//go:build !wasip1

package guest

import (
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/abi"
)

// fakeHost answers host calls from a queue of receive results and records
// what was sent, so the SDK's logic runs without an agent.
type fakeHost struct {
	queue    []fakeMsg // what receive returns, in order; empty means closed
	sent     [][]byte
	calls    []int // buffer size of every receive call
	timeouts []int64
	closed   map[int32]string
	next     int32
}

type fakeMsg struct {
	r   abi.Result
	msg []byte
}

func (f *fakeHost) main() int32 { return 0 }

func (f *fakeHost) new() abi.Result {
	f.next++
	return abi.Result(f.next)
}

func (f *fakeHost) send(h int32, b []byte) abi.Result {
	if _, ok := f.closed[h]; ok {
		return abi.ErrClosed
	}
	f.sent = append(f.sent, append([]byte(nil), b...))
	return abi.Ok
}

func (f *fakeHost) receive(h int32, buf []byte, timeoutNS int64) (uint32, abi.Result) {
	f.calls = append(f.calls, len(buf))
	f.timeouts = append(f.timeouts, timeoutNS)
	if len(f.queue) == 0 {
		return 0, abi.ErrClosed
	}
	m := f.queue[0]
	if m.r == abi.ErrTimeout {
		f.queue = f.queue[1:]
		return 0, m.r
	}
	if len(m.msg) > len(buf) {
		return uint32(len(m.msg)), abi.ErrTooLarge
	}
	f.queue = f.queue[1:]
	return uint32(copy(buf, m.msg)), m.r
}

func (f *fakeHost) close(h int32) abi.Result { return f.closeError(h, "") }

func (f *fakeHost) closeSend(h int32) abi.Result { return f.closeError(h, "half") }

func (f *fakeHost) closeError(h int32, msg string) abi.Result {
	if f.closed == nil {
		f.closed = map[int32]string{}
	}
	f.closed[h] = msg
	return abi.Ok
}

func withFake(t *testing.T, f *fakeHost) {
	t.Helper()
	testHost = f
	recvBuf = nil
	t.Cleanup(func() { testHost = nil; recvBuf = nil })
}

func TestReceiveGrowsBuffer(t *testing.T) {
	big := make([]byte, recvStart+10)
	f := &fakeHost{queue: []fakeMsg{{abi.Ok, marshal(t, big)}, {abi.Ok, []byte{0x01}}}}
	withFake(t, f)
	ch := Channel()
	v, err := ch.Receive()
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := v.([]byte); !ok || len(b) != len(big) {
		t.Fatalf("got %T of length %d", v, len(big))
	}
	if v, err := ch.Receive(); err != nil || v != int64(1) {
		t.Fatalf("second receive: %v, %v", v, err)
	}
	want := []int{recvStart, recvStart + 10 + 5, recvStart + 10 + 5}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("buffer sizes %v, want %v", f.calls, want)
	}
}

func TestReceiveRemoteErrorThenEOF(t *testing.T) {
	f := &fakeHost{queue: []fakeMsg{{abi.Ok, []byte{0xa1, 'x'}}, {abi.ErrRemote, []byte("it broke")}}}
	withFake(t, f)
	ch := Channel()
	if v, err := ch.Receive(); err != nil || v != "x" {
		t.Fatalf("receive: %v, %v", v, err)
	}
	_, err := ch.Receive()
	var re *RemoteError
	if !errors.As(err, &re) || re.Message != "it broke" {
		t.Fatalf("got %v, want RemoteError it broke", err)
	}
	if _, err := ch.Receive(); err != io.EOF {
		t.Fatalf("after remote error: %v, want io.EOF", err)
	}
}

func TestReceiveTimeoutKeepsChannel(t *testing.T) {
	f := &fakeHost{queue: []fakeMsg{{abi.ErrTimeout, nil}, {abi.Ok, []byte{0x07}}}}
	withFake(t, f)
	ch := Channel()
	_, err := ch.ReceiveTimeout(50 * time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	var n int
	if err := ch.ReceiveInto(&n); err != nil || n != 7 {
		t.Fatalf("after timeout: %v, %v", n, err)
	}
	if want := []int64{50e6, abi.NoTimeout}; !reflect.DeepEqual(f.timeouts, want) {
		t.Errorf("timeouts %v, want %v", f.timeouts, want)
	}
}

func TestSendAndClose(t *testing.T) {
	f := &fakeHost{}
	withFake(t, f)
	ch, err := NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	if err := Channel().Send(map[string]any{"chan": ch}); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x81, 0xa4, 'c', 'h', 'a', 'n', 0xd6, 0x01, 0, 0, 0, byte(ch.Handle())}
	if len(f.sent) != 1 || !reflect.DeepEqual(f.sent[0], want) {
		t.Errorf("sent % x, want % x", f.sent, want)
	}
	if err := ch.CloseWithError("bad"); err != nil {
		t.Fatal(err)
	}
	if f.closed[ch.Handle()] != "bad" {
		t.Errorf("closed with %q", f.closed[ch.Handle()])
	}
	if err := ch.Send(1); !errors.Is(err, ErrClosed) {
		t.Errorf("send after close: %v, want ErrClosed", err)
	}
	if err := ch.Send(make(chan int)); err == nil {
		t.Error("sending a Go chan did not fail")
	}
}

func TestSendAllocs(t *testing.T) {
	withFake(t, &fakeHost{})
	ch := Channel()
	msg := []byte("hello")
	n := testing.AllocsPerRun(100, func() { _ = ch.Send(msg) })
	// The fake host copies each message once; the SDK should add little.
	if n > 3 {
		t.Errorf("Send allocates %v times per call", n)
	}
}

func TestNoHostPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewChannel outside wasm did not panic")
		}
	}()
	_, _ = NewChannel()
}
