// Command sleeper is a wasmnet guest that blocks in Receive with no timeout,
// goes back to receiving after every item, and returns only when the channel
// closes: a guest for cancellation and run-time-limit tests.
package main

import "github.com/wasmnet/wasmnet/guest"

func main() {
	ch := guest.Channel()
	for {
		if _, err := ch.Receive(); err != nil {
			return
		}
	}
}
