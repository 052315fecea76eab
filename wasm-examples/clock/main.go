// Command clock is a wasmnet guest that reports what the sandbox's clocks
// show it: for every duration in nanoseconds it receives, it sleeps that
// long with time.Sleep and sends back the time of day (Unix seconds) and
// the elapsed time that the monotonic clock measured around the sleep.
package main

import (
	"time"

	"github.com/wasmnet/wasmnet/guest"
)

func main() {
	ch := guest.Channel()
	for {
		var d int64
		if err := ch.ReceiveInto(&d); err != nil {
			return
		}
		start := time.Now()
		time.Sleep(time.Duration(d))
		elapsed := time.Since(start)
		if err := ch.Send([]any{time.Now().Unix(), int64(elapsed)}); err != nil {
			panic(err)
		}
	}
}
