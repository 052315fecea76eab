// Command timeout is a wasmnet guest that shows a receive timeout leaves the
// channel usable: it waits 50ms for an item and sends "timeout" if none came,
// then receives one item with no time limit and echoes it. If an item did
// come within 50ms it echoes that one instead and returns.
package main

import (
	"errors"
	"time"

	"github.com/wasmnet/wasmnet/guest"
)

func main() {
	ch := guest.Channel()
	v, err := ch.ReceiveTimeout(50 * time.Millisecond)
	if errors.Is(err, guest.ErrTimeout) {
		if err := ch.Send("timeout"); err != nil {
			panic(err)
		}
		v, err = ch.Receive()
	}
	if err != nil {
		panic(err)
	}
	if err := ch.Send(v); err != nil {
		panic(err)
	}
}
