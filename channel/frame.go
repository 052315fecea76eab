package channel

import (
	"encoding/binary"
	"fmt"
)

// The frame layout. Every frame is a fixed header followed by a payload:
//
//	type    uint8   frame type
//	flags   uint8   type-specific (request kind, close-with-error bit)
//	id      uint32  channel id, request id or ping nonce, big-endian
//	length  uint32  payload length, big-endian
const headerSize = 10

// ProtocolVersion is the version of the wire protocol this package speaks.
// Both sides must speak the same version.
const ProtocolVersion = 1

// helloMagic opens every hello payload, so that a peer printing something
// else (a shell error, a banner) is told apart from a protocol mismatch.
const helloMagic = "WASMNET\x00"

type frameType uint8

const (
	frameHello    frameType = 1 // payload: helloMagic + msgpack Hello
	frameOpen     frameType = 2 // id: the new channel
	frameData     frameType = 3 // id: channel; payload: one msgpack value
	frameClose    frameType = 4 // id: channel; flags&flagError: payload is the error text
	frameWindow   frameType = 5 // id: channel; payload: uint32 credit in bytes
	frameRequest  frameType = 6 // id: request id (0: no reply wanted); flags: kind; payload: body
	frameResponse frameType = 7 // id: request id; flags&flagError: payload is the error text
	framePing     frameType = 8 // id: nonce
	framePong     frameType = 9 // id: the nonce of the ping
)

const flagError = 1

var frameNames = map[frameType]string{
	frameHello: "hello", frameOpen: "open", frameData: "data", frameClose: "close",
	frameWindow: "window", frameRequest: "request", frameResponse: "response",
	framePing: "ping", framePong: "pong",
}

func (t frameType) String() string {
	if s, ok := frameNames[t]; ok {
		return s
	}
	return fmt.Sprintf("frame type %d", uint8(t))
}

// messageOverhead is what each data message counts against the window on
// top of its payload, so that a flood of tiny messages is bounded too.
const messageOverhead = 16

type header struct {
	typ    frameType
	flags  uint8
	id     uint32
	length uint32
}

func appendHeader(b []byte, typ frameType, flags uint8, id uint32, length int) []byte {
	return append(b, byte(typ), flags,
		byte(id>>24), byte(id>>16), byte(id>>8), byte(id),
		byte(length>>24), byte(length>>16), byte(length>>8), byte(length))
}

func parseHeader(b []byte) header {
	return header{
		typ:    frameType(b[0]),
		flags:  b[1],
		id:     binary.BigEndian.Uint32(b[2:6]),
		length: binary.BigEndian.Uint32(b[6:10]),
	}
}
