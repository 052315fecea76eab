// Command panic is a wasmnet guest that receives one string and panics with
// exactly that message, so tests can check how a guest panic reaches the
// client.
package main

import "github.com/wasmnet/wasmnet/guest"

func main() {
	var msg string
	if err := guest.Channel().ReceiveInto(&msg); err != nil {
		panic(err)
	}
	panic(msg)
}
