// Command spin is a wasmnet guest that sends "started" and then loops
// forever without calling the host, for run-time-limit tests: only the
// agent can stop it. Tests wait for "started" to know it computes.
package main

import "github.com/wasmnet/wasmnet/guest"

// state is a package variable so that the loop has an effect the compiler
// must keep.
var state uint64 = 1

func main() {
	guest.Channel().Send("started")
	for {
		state ^= state << 13
		state ^= state >> 7
		state ^= state << 17
	}
}
