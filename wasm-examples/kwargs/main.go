// Command kwargs is a wasmnet guest that sends back its typed arguments
// (gateway's Module.With, read with guest.Args) as one map, then returns.
// It shows the Go side of execnet's remote_exec(..., **kwargs).
package main

import "github.com/wasmnet/wasmnet/guest"

func main() {
	ch := guest.Channel()
	args, err := guest.Args()
	if err != nil {
		ch.CloseWithError(err.Error())
		return
	}
	if err := ch.Send(args); err != nil {
		panic(err)
	}
}
