// Package abi is the contract between a wasmnet agent and the WebAssembly
// guests it runs: the import module name, the host functions with their
// signatures, the result codes and the ABI version.
//
// It is the only thing a guest SDK depends on; README.md in this folder
// documents every function for SDK authors in other languages.
package abi

import "fmt"

// ModuleName is the import module every host function lives in.
const ModuleName = "wasmnet"

// Version is the ABI version this package describes.
const Version = 1

// VersionMarkerPrefix starts the name of the import a guest uses to declare
// the ABI version it was built for: "abi_v1" declares version 1. An agent
// refuses a guest whose marker names a version it does not implement.
const VersionMarkerPrefix = "abi_v"

// ChannelExtType is the msgpack extension type of a channel value. Its
// payload is the channel handle as a 4-byte big-endian unsigned integer
// (msgpack fixext 4: 0xd6 0x01 b3 b2 b1 b0).
const ChannelExtType int8 = 1

// BigIntExtType is the msgpack extension type of an integer outside
// int64 and uint64 (Python's and Starlark's 2**80). Its payload is a sign
// byte (0 positive, 1 negative) and then the magnitude, big-endian, with no
// leading zero byte and at most MaxBigIntBytes bytes. An integer that fits
// int64 or uint64 is never sent this way: a decoder refuses one, so that
// every integer has one encoding.
const BigIntExtType int8 = 2

// MaxBigIntBytes bounds the magnitude of a big integer on the wire: 1024
// bytes, 8192 bits, 2467 decimal digits. A peer sends the largest one it
// may; converting it to decimal costs about the square of its length, and
// Python itself refuses to print more than 4300 digits by default.
const MaxBigIntBytes = 1024

// ArgsEnv is the environment variable that carries a compiled guest's
// typed arguments (gateway's Module.With): one msgpack map from names to
// values, in standard base64. It is set only when the client gave some.
const ArgsEnv = "WASMNET_ARGS"

// NoTimeout, passed as the timeout of receive, waits without a time limit.
const NoTimeout int64 = -1

// Names of the host functions in ModuleName.
const (
	FuncABIVersion  = "abi_version"
	FuncMarker      = "abi_v1" // VersionMarkerPrefix + Version
	FuncMain        = "channel_main"
	FuncNew         = "channel_new"
	FuncSend        = "send"
	FuncReceive     = "receive"
	FuncClose       = "close"
	FuncCloseError  = "close_error"
	FuncCloseSend   = "close_send"
	FuncMemoryLimit = "memory_limit"
)

// GoMainExport is the function a reactor guest (a module with _initialize
// and no _start, such as Go's -buildmode=c-shared) exports to run its main
// program; the Go SDK exports it. An agent calls it when a client names no
// entry point. It takes and returns nothing.
const GoMainExport = "wasmnet_main"

// Result is what a host function returns: Ok, or a negative error code.
// Functions that return a handle return it as a non-negative Result.
type Result int32

// Result codes. They are stable across ABI versions.
const (
	Ok             Result = 0
	ErrClosed      Result = -1 // the channel is closed: the peer closed it normally, or this side did
	ErrTimeout     Result = -2 // receive's timeout passed with no message
	ErrTooLarge    Result = -3 // the buffer is too small (the size needed is reported) or the message exceeds the limit
	ErrUnknown     Result = -4 // the handle names no channel this guest holds
	ErrRemote      Result = -5 // the peer closed the channel with an error; its text is in the buffer
	ErrBadValue    Result = -6 // the bytes are not one well-formed msgpack value, or name a channel the guest does not hold
	ErrMemory      Result = -7 // a pointer and length fall outside the guest's memory
	ErrUnavailable Result = -8 // the agent is shutting down or cannot open more channels
)

var resultNames = [...]string{
	"ok", "closed", "timeout", "too large", "unknown channel", "remote error",
	"bad value", "memory out of range", "unavailable",
}

func (r Result) String() string {
	if r <= 0 && int(-r) < len(resultNames) {
		return resultNames[-r]
	}
	if r > 0 {
		return fmt.Sprintf("handle %d", int32(r))
	}
	return fmt.Sprintf("result %d", int32(r))
}

// ValueType is a WebAssembly value type of a host function parameter or
// result.
type ValueType byte

// The value types the ABI uses, with their WebAssembly binary encodings.
const (
	I32 ValueType = 0x7f
	I64 ValueType = 0x7e
)

func (t ValueType) String() string {
	switch t {
	case I32:
		return "i32"
	case I64:
		return "i64"
	}
	return fmt.Sprintf("valtype(%#x)", byte(t))
}

// Function describes one host function of the ABI.
type Function struct {
	Name    string
	Params  []ValueType
	Results []ValueType
	Doc     string
}

// Functions lists the host functions of this ABI version. The slice is new
// on every call, so callers may keep or change it.
func Functions() []Function {
	return []Function{
		{FuncABIVersion, nil, []ValueType{I32}, "returns the agent's ABI version"},
		{FuncMarker, nil, []ValueType{I32}, "declares the guest was built for ABI v1; returns 1"},
		{FuncMain, nil, []ValueType{I32}, "returns the handle of the channel the execution started with"},
		{FuncNew, nil, []ValueType{I32}, "opens a channel; returns its handle or an error"},
		{FuncSend, []ValueType{I32, I32, I32}, []ValueType{I32}, "send(handle, ptr, len): sends one msgpack value"},
		{FuncReceive, []ValueType{I32, I32, I32, I64, I32}, []ValueType{I32},
			"receive(handle, buf, cap, timeout_ns, len_out): receives one msgpack value"},
		{FuncClose, []ValueType{I32}, []ValueType{I32}, "close(handle): closes the channel"},
		{FuncCloseError, []ValueType{I32, I32, I32}, []ValueType{I32},
			"close_error(handle, ptr, len): closes the channel with an error text"},
		{FuncCloseSend, []ValueType{I32}, []ValueType{I32},
			"close_send(handle): closes the sending side only; receive goes on"},
		{FuncMemoryLimit, nil, []ValueType{I64},
			"returns the bytes of linear memory this execution may grow to"},
	}
}

// Lookup returns the function named name, and whether this ABI has it.
func Lookup(name string) (Function, bool) {
	for _, f := range Functions() {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}
