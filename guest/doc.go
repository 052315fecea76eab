// Package guest is the Go SDK for wasmnet guests: WebAssembly modules built
// with GOOS=wasip1 GOARCH=wasm that an agent runs on behalf of a client and
// that talk to it over channels carrying msgpack values.
//
// A guest gets the channel it was started with from [Channel], may open more
// with [NewChannel], and sends and receives Go values on them. A [*Chan] can
// itself be sent inside a value, so the client and the guest can hand each
// other channels. When main returns, every channel closes; a panic closes
// the main channel with an error the client sees as a remote error.
//
// The package implements the host ABI described in abi/README.md; it imports
// the functions of module "wasmnet" and calls abi_v1 at start-up so that an
// agent can refuse a guest built for another ABI version. Outside wasip1 it
// compiles, so that tools and tests of other packages work, but every call
// panics.
//
// # Values
//
// Send encodes with msgpack (strings as str, []byte as bin, integers in
// their smallest form, structs as maps). Receive decodes integers as int64
// (uint64 only above math.MaxInt64), floats as float64, bin as []byte, and
// maps as map[string]any when all keys are strings. ReceiveInto decodes into
// a typed destination instead.
//
// # A whole guest
//
// This guest echoes every item back until the client closes the channel:
//
//	package main
//
//	import (
//		"errors"
//		"io"
//
//		"github.com/wasmnet/wasmnet/guest"
//	)
//
//	func main() {
//		ch := guest.Channel()
//		for {
//			v, err := ch.Receive()
//			if errors.Is(err, io.EOF) {
//				return
//			}
//			if err != nil {
//				panic(err)
//			}
//			if err := ch.Send(v); err != nil {
//				panic(err)
//			}
//		}
//	}
//
// Build it with:
//
//	GOOS=wasip1 GOARCH=wasm go build -o echo.wasm .
//
// or, to start each execution from an image of the initialised Go runtime
// (much faster; the package's wasmnet_main export runs main):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o echo.wasm .
package guest
