//go:build !wasip1

package guest

import "github.com/wasmnet/wasmnet/abi"

// On other systems there is no agent to import from: every host call panics,
// unless a test has installed a fake host. This keeps `go vet ./...` and
// `go test ./...` working on the build machine.

// host is the ABI as the rest of the package sees it; tests implement it.
type host interface {
	main() int32
	new() abi.Result
	send(h int32, b []byte) abi.Result
	receive(h int32, buf []byte, timeoutNS int64) (uint32, abi.Result)
	close(h int32) abi.Result
	closeError(h int32, msg string) abi.Result
	closeSend(h int32) abi.Result
}

// testHost, when set by a test, answers the host calls.
var testHost host

func current() host {
	if testHost == nil {
		panic("guest: not running under a wasmnet agent: build with GOOS=wasip1 GOARCH=wasm")
	}
	return testHost
}

func hostMain() int32                       { return current().main() }
func hostNew() abi.Result                   { return current().new() }
func hostSend(h int32, b []byte) abi.Result { return current().send(h, b) }
func hostReceive(h int32, buf []byte, timeoutNS int64) (uint32, abi.Result) {
	return current().receive(h, buf, timeoutNS)
}
func hostClose(h int32) abi.Result                  { return current().close(h) }
func hostCloseError(h int32, msg string) abi.Result { return current().closeError(h, msg) }
func hostCloseSend(h int32) abi.Result              { return current().closeSend(h) }

// hostMemoryLimit is zero off wasm: the runtime keeps its defaults.
func hostMemoryLimit() int64 { return 0 }
