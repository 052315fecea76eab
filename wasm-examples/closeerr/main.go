// Command closeerr is a wasmnet guest that closes its channel with an error:
// it receives one string, sends "before", then calls CloseWithError with that
// string, so the client receives "before" and then a remote error.
package main

import "github.com/wasmnet/wasmnet/guest"

func main() {
	ch := guest.Channel()
	var msg string
	if err := ch.ReceiveInto(&msg); err != nil {
		panic(err)
	}
	if err := ch.Send("before"); err != nil {
		panic(err)
	}
	if err := ch.CloseWithError(msg); err != nil {
		panic(err)
	}
}
