// Command echo is a wasmnet guest that sends back every item it receives on
// its main channel until the channel closes, then returns.
package main

import (
	"errors"
	"io"

	"github.com/wasmnet/wasmnet/guest"
)

func main() {
	ch := guest.Channel()
	for {
		v, err := ch.Receive()
		var remote *guest.RemoteError
		if errors.Is(err, io.EOF) || errors.As(err, &remote) {
			return // the client is done, with or without an error
		}
		if err != nil {
			panic(err)
		}
		if err := ch.Send(v); err != nil {
			panic(err)
		}
	}
}
