// Command sleeper is a wasmnet guest that sends "started", then blocks in
// Receive with no timeout, goes back to receiving after every item, and
// returns only when the channel closes: a guest for cancellation and
// run-time-limit tests, which wait for "started" to know it runs.
package main

import "github.com/wasmnet/wasmnet/guest"

func main() {
	ch := guest.Channel()
	if ch.Send("started") != nil {
		return
	}
	for {
		if _, err := ch.Receive(); err != nil {
			return
		}
	}
}
