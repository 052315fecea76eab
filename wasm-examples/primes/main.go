// Command primes is a wasmnet guest that counts primes. For every item [a, b]
// (two integers) it receives, it sends the number of primes p with
// a <= p < b, until the channel closes.
package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/wasmnet/wasmnet/guest"
	"github.com/wasmnet/wasmnet/internal/primes"
)

func main() {
	ch := guest.Channel()
	for {
		var ab []int64
		err := ch.ReceiveInto(&ab)
		if errors.Is(err, io.EOF) {
			return
		}
		if err == nil && len(ab) != 2 {
			err = fmt.Errorf("primes: got %d integers, want [a, b]", len(ab))
		}
		if err != nil {
			ch.CloseWithError(err.Error())
			return
		}
		if err := ch.Send(primes.Count(ab[0], ab[1])); err != nil {
			panic(err)
		}
	}
}
