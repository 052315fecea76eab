// Command fakeagent is a hostile wasmnet agent for tests: started through
// exec=, it says a valid hello, then answers the client's first request
// with the attack its argument names and every later request as a real
// agent would answer a status request. It speaks the wire protocol by
// hand (channel/PROTOCOL.md), so that it can break it.
//
//	fakeagent deep|counts|nils|opens|output|late|bigclose|pings
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

const (
	frameHello    = 1
	frameOpen     = 2
	frameData     = 3
	frameClose    = 4
	frameRequest  = 6
	frameResponse = 7
	framePing     = 8
	framePong     = 9
)

type peer struct {
	r *bufio.Reader
	w *bufio.Writer
}

func (p *peer) frame(typ, flags byte, id uint32, payload []byte) {
	var h [10]byte
	h[0], h[1] = typ, flags
	binary.BigEndian.PutUint32(h[2:], id)
	binary.BigEndian.PutUint32(h[6:], uint32(len(payload)))
	p.w.Write(h[:])
	p.w.Write(payload)
}

func (p *peer) read() (typ byte, id uint32, payload []byte, err error) {
	var h [10]byte
	if _, err = io.ReadFull(p.r, h[:]); err != nil {
		return
	}
	payload = make([]byte, binary.BigEndian.Uint32(h[6:]))
	_, err = io.ReadFull(p.r, payload)
	return h[0], binary.BigEndian.Uint32(h[2:]), payload, err
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fakeagent deep|counts|nils|opens|output|late|bigclose|pings")
		os.Exit(2)
	}
	p := &peer{r: bufio.NewReaderSize(os.Stdin, 1<<16), w: bufio.NewWriterSize(os.Stdout, 1<<16)}
	window, maxFrame := 4<<20, 64<<20
	if os.Args[1] == "pings" {
		// Limits that would let the client queue without bound, were
		// it to take them from the peer.
		window, maxFrame = 1<<62, 1<<62
	}
	hello, _ := channel.Marshal(&channel.Hello{Proto: channel.ProtocolVersion, Role: channel.RoleAgent,
		Window: window, MaxFrame: maxFrame, Info: channel.Info{Version: "fake", OS: "fake", Arch: "fake", PID: os.Getpid()}})
	p.frame(frameHello, 0, 0, append([]byte("WASMNET\x00"), hello...))
	p.w.Flush()
	status, _ := channel.Marshal(&wire.Status{Version: "fake", PID: os.Getpid()})
	attacked := false
	var pending []uint32 // requests held back by "late"
	for {
		typ, id, _, err := p.read()
		if err != nil {
			return
		}
		switch {
		case typ == framePing:
			p.frame(framePong, 0, id, nil)
		case typ == frameRequest && id != 0 && !attacked:
			attacked = true
			attack(p, os.Args[1], id, &pending)
		case typ == frameRequest && id != 0:
			for _, old := range pending {
				p.frame(frameResponse, 0, old, status) // nobody waits for it
			}
			pending = nil
			p.frame(frameResponse, 0, id, status)
		}
		if p.r.Buffered() == 0 {
			p.w.Flush()
		}
	}
}

func attack(p *peer, mode string, id uint32, pending *[]uint32) {
	switch mode {
	case "deep": // 8M arrays deep: a Go stack overflow for a recursive decoder
		p.frame(frameResponse, 0, id, append(bytes.Repeat([]byte{0x91}, 8<<20), 0x90))
	case "counts": // 16 arrays, each claiming every byte that follows
		var b []byte
		const levels, pad = 16, 4 << 20
		for i := range levels {
			b = binary.BigEndian.AppendUint32(append(b, 0xdd), uint32((levels-i-1)*5+pad))
		}
		p.frame(frameResponse, 0, id, append(b, bytes.Repeat([]byte{0xc1}, pad)...))
	case "nils": // one array of 60M nils
		b := binary.BigEndian.AppendUint32([]byte{0xdd}, 60<<20)
		p.frame(frameResponse, 0, id, append(b, bytes.Repeat([]byte{0xc0}, 60<<20)...))
	case "opens": // a million channels nobody asked for, then the answer
		for i := range uint32(1 << 20) {
			p.frame(frameOpen, 0, 2+2*i, nil)
		}
		p.frame(frameResponse, 0, id, []byte{0x80})
	case "output": // 128 MiB of output without a newline, then the answer
		data := bytes.Repeat([]byte{'x'}, 1<<20)
		for range 128 {
			body, _ := channel.Marshal(&wire.Output{Channel: 1, Stream: 1, Data: data})
			p.frame(frameRequest, wire.KindOutput, 0, body)
		}
		p.frame(frameResponse, 0, id, []byte{0x80})
	case "late": // the answer comes after the next request
		*pending = append(*pending, id)
	case "bigclose": // an error answer and a close larger than ever sent
		msg := bytes.Repeat([]byte{'e'}, 8<<20)
		p.frame(frameOpen, 0, 2, nil)
		p.frame(frameClose, 1, 2, msg)
		p.frame(frameResponse, 1, id, msg)
	case "pings": // 1 GiB of pings at most, no pong read, until the client hangs up
		for i := range uint32(100 << 20) {
			p.frame(framePing, 0, i, nil)
			if i%4096 == 0 && p.w.Flush() != nil {
				os.Exit(0)
			}
		}
		p.w.Flush()
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "fakeagent: unknown attack %q\n", mode)
		os.Exit(2)
	}
}
