// Command flood is a wasmnet guest for throughput benchmarks. For every
// integer N it receives it sends N small integers (0, 1, ..., 127, 0, ...)
// as fast as it can. For the str "sink" it counts the items that follow
// until nil, and then sends [items, bytes], bytes being the total length of
// the str and bin items among them. It repeats until the channel closes.
package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/wasmnet/wasmnet/guest"
)

func main() {
	ch := guest.Channel()
	for {
		v, err := ch.Receive()
		var remote *guest.RemoteError
		if errors.Is(err, io.EOF) || errors.As(err, &remote) {
			return
		}
		if err != nil {
			panic(err)
		}
		switch x := v.(type) {
		case int64:
			for i := range x {
				if err := ch.Send(i & 127); err != nil {
					panic(err)
				}
			}
		case string:
			if x != "sink" {
				ch.CloseWithError(fmt.Sprintf("flood: unknown command %q", x))
				return
			}
			items, bytes := sink(ch)
			if err := ch.Send([]int64{items, bytes}); err != nil {
				panic(err)
			}
		default:
			ch.CloseWithError(fmt.Sprintf("flood: item of type %T, want an integer or \"sink\"", v))
			return
		}
	}
}

// sink counts items until nil or the end of the channel.
func sink(ch *guest.Chan) (items, bytes int64) {
	for {
		v, err := ch.Receive()
		if errors.Is(err, io.EOF) || err == nil && v == nil {
			return items, bytes
		}
		if err != nil {
			panic(err)
		}
		items++
		switch x := v.(type) {
		case []byte:
			bytes += int64(len(x))
		case string:
			bytes += int64(len(x))
		}
	}
}
