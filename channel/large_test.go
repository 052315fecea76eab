package channel

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// payloadFor is message seq of channel ch: its size alternates between
// sizes that are batched, written directly and written from the sender's
// slice, and its bytes say whose it is.
func payloadFor(ch, seq int) []byte {
	sizes := []int{10, 20 << 10, minLargeWrite, 300 << 10, 1}
	b := bytes.Repeat([]byte{byte(ch*31 + seq)}, sizes[seq%len(sizes)])
	return fmt.Appendf(b, "|%d/%d", ch, seq)
}

// TestLargeAndSmallFramesKeepOrder sends large and small messages on
// several channels at once: the large ones bypass the writer's batch, and
// each channel must still receive its own messages, whole and in order.
func TestLargeAndSmallFramesKeepOrder(t *testing.T) {
	eachTransport(t, func(t *testing.T, cm, am *Mux) {
		const channels, perChannel = 4, 40
		var wg sync.WaitGroup
		for c := range channels {
			send, recv := channelPair(t, cm, am)
			wg.Go(func() {
				for seq := range perChannel {
					if err := send.Send(payloadFor(c, seq)); err != nil {
						t.Errorf("channel %d: send %d: %v", c, seq, err)
						return
					}
				}
			})
			wg.Go(func() {
				for seq := range perChannel {
					v, err := recv.Receive(testCtx(t))
					if err != nil {
						t.Errorf("channel %d: receive %d: %v", c, seq, err)
						return
					}
					if got, want := v.([]byte), payloadFor(c, seq); !bytes.Equal(got, want) {
						t.Errorf("channel %d: message %d is %d bytes ending %q, want %d ending %q",
							c, seq, len(got), got[max(0, len(got)-8):], len(want), want[len(want)-8:])
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

// TestReceivedValuesOutliveTheBuffer checks that a received byte string is
// the receiver's own. A large one may be the very buffer its message
// arrived in (Receive keeps that buffer instead of copying it), so later
// messages, read into the channel's recycled buffers and lent out by
// ReceiveRawFunc, must never fill it.
func TestReceivedValuesOutliveTheBuffer(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	send, recv := channelPair(t, cm, am)
	const n = 8
	fill := func(i, size int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, size) }
	// Each shape is sent as item i: a lone byte string, and byte strings
	// within a list, one that is most of the message and one that is not.
	shape := func(i int) any {
		switch i % 3 {
		case 0:
			return fill(i, 256<<10)
		case 1:
			return []any{fill(i, 200<<10), fill(i+1, 100<<10)}
		}
		return map[string]any{"small": fill(i, 5000), "big": fill(i+2, 64<<10)}
	}
	go func() {
		for i := range n {
			send.Send(shape(i))
			// A message lent out and given back between the kept ones,
			// so that the recycled buffers are in use.
			send.Send(fill(9, 300<<10))
		}
	}()
	var got []any
	for range n {
		v, err := recv.Receive(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
		err = recv.ReceiveRawFunc(testCtx(t), func(msg []byte) error {
			for i := range msg {
				msg[i] = 0 // what a careless borrower could do
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range got {
		if !reflect.DeepEqual(v, shape(i)) {
			t.Errorf("item %d changed after later messages arrived", i)
		}
	}
}

// TestReceiveRawFunc lends each message to the function, whole, and the
// function's error comes back.
func TestReceiveRawFunc(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, nil)
	send, recv := channelPair(t, cm, am)
	const n = 16
	go func() {
		for i := range n {
			send.Send(payloadFor(1, i))
		}
		send.Send("stop")
	}()
	for i := range n {
		err := recv.ReceiveRawFunc(testCtx(t), func(msg []byte) error {
			v, err := decodeValue(msg, nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(v.([]byte), payloadFor(1, i)) {
				return fmt.Errorf("message %d differs", i)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	stop := fmt.Errorf("stop")
	if err := recv.ReceiveRawFunc(testCtx(t), func([]byte) error { return stop }); err != stop {
		t.Errorf("ReceiveRawFunc returned %v, want fn's error", err)
	}
}

// TestLargeSendToAPeerThatStopsReading: a large frame is written on the
// sender's goroutine, so a peer that stops reading blocks that write; the
// keepalive must still end it, with an error, instead of leaving the
// sender stuck for as long as the connection stays open.
func TestLargeSendToAPeerThatStopsReading(t *testing.T) {
	m, _ := newRawPeer(t, RoleClient, &Config{KeepAliveTimeout: 300 * time.Millisecond})
	c, err := m.OpenChannel()
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 256<<10)
	done := make(chan error, 1)
	go func() {
		// The peer's window (1 MiB) lets four through; the pipe takes
		// far less, so the writes block until the keepalive gives up.
		for range 4 {
			if err := c.Send(msg); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("1 MiB went to a peer that reads nothing")
		}
		if !errors.Is(err, ErrKeepAliveTimeout) {
			t.Errorf("send ended with %v, want the keepalive timeout", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a large send to a peer that stopped reading never ended")
	}
}
