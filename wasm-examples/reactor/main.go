// Command reactor is a wasmnet guest built as a WASI reactor
// (-buildmode=c-shared): it has no _start; the agent calls _initialize, then
// the export run, which echoes one item on the main channel.
package main

import "github.com/wasmnet/wasmnet/guest"

//go:wasmexport run
func run() {
	ch := guest.Channel()
	v, err := ch.Receive()
	if err != nil {
		panic(err)
	}
	if err := ch.Send(v); err != nil {
		panic(err)
	}
}

func main() {}
