// Command spin is a wasmnet guest that loops forever without calling the
// host, for run-time-limit tests: only the agent can stop it.
package main

// Importing guest declares the ABI version (abi_v1) like every other guest.
import _ "github.com/wasmnet/wasmnet/guest"

// state is a package variable so that the loop has an effect the compiler
// must keep.
var state uint64 = 1

func main() {
	for {
		state ^= state << 13
		state ^= state >> 7
		state ^= state << 17
	}
}
