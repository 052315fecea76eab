//go:build wasip1

package guest

import (
	"unsafe"

	"github.com/wasmnet/wasmnet/abi"
)

// The host functions of abi.ModuleName, with the signatures of abi/README.md.
// Pointers are unsafe.Pointer, which wasm32 passes as i32.

//go:wasmimport wasmnet abi_v1
func wasmABIv1() int32

//go:wasmimport wasmnet channel_main
func wasmChannelMain() int32

//go:wasmimport wasmnet channel_new
func wasmChannelNew() int32

//go:wasmimport wasmnet send
func wasmSend(h int32, ptr unsafe.Pointer, n int32) int32

//go:wasmimport wasmnet receive
func wasmReceive(h int32, buf unsafe.Pointer, capacity int32, timeoutNS int64, lenOut unsafe.Pointer) int32

//go:wasmimport wasmnet close
func wasmClose(h int32) int32

//go:wasmimport wasmnet close_send
func wasmCloseSend(h int32) int32

//go:wasmimport wasmnet close_error
func wasmCloseError(h int32, ptr unsafe.Pointer, n int32) int32

//go:wasmimport wasmnet memory_limit
func wasmMemoryLimit() int64

func hostMemoryLimit() int64 { return wasmMemoryLimit() }

// Calling abi_v1 once keeps the import in the module, so the agent can check
// the ABI version before the guest runs.
func init() { wasmABIv1() }

func hostMain() int32 { return wasmChannelMain() }

func hostNew() abi.Result { return abi.Result(wasmChannelNew()) }

func hostSend(h int32, b []byte) abi.Result {
	return abi.Result(wasmSend(h, unsafe.Pointer(unsafe.SliceData(b)), int32(len(b))))
}

// recvLen is receive's len_out. It is a package variable so that taking its
// address does not allocate; recvMu (guest.go) guards it.
var recvLen uint32

func hostReceive(h int32, buf []byte, timeoutNS int64) (uint32, abi.Result) {
	recvLen = 0
	r := wasmReceive(h, unsafe.Pointer(unsafe.SliceData(buf)), int32(len(buf)), timeoutNS, unsafe.Pointer(&recvLen))
	return recvLen, abi.Result(r)
}

func hostClose(h int32) abi.Result { return abi.Result(wasmClose(h)) }

func hostCloseSend(h int32) abi.Result { return abi.Result(wasmCloseSend(h)) }

func hostCloseError(h int32, msg string) abi.Result {
	return abi.Result(wasmCloseError(h, unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg))))
}
