// Command halfclose is a wasmnet guest that half-closes its main channel:
// it ends its own output and goes on reading the client's input.
//
// It receives an integer n, opens a channel back and sends it, then sends
// the integers 0 to n-1 and closes its sending side (CloseSend): the
// client's receive reports the end of the stream after n-1. A send on the
// main channel must now fail as closed; if it does not, the guest closes
// the channel with an error. It then forwards every item that still
// arrives on the main channel to back, and when the client ends its input
// too, closes back and returns.
package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/wasmnet/wasmnet/guest"
)

func main() {
	ch := guest.Channel()
	var n int64
	if err := ch.ReceiveInto(&n); err != nil {
		fail(fmt.Errorf("receive n: %w", err))
	}
	back, err := guest.NewChannel()
	if err != nil {
		fail(err)
	}
	if err := ch.Send(back); err != nil {
		fail(err)
	}
	for i := range n {
		if err := ch.Send(i); err != nil {
			fail(err)
		}
	}
	if err := ch.CloseSend(); err != nil {
		fail(err)
	}
	if err := ch.Send("after close_send"); !errors.Is(err, guest.ErrClosed) {
		fail(fmt.Errorf("send after close_send: got %v, want closed", err))
	}
	for {
		v, err := ch.Receive()
		if errors.Is(err, io.EOF) {
			back.Close()
			return
		}
		if err != nil {
			fail(err)
		}
		if err := back.Send(v); err != nil {
			fail(err)
		}
	}
}

// fail ends the guest; the agent closes its channels with the text.
func fail(err error) { panic("halfclose: " + err.Error()) }
