// Command stream is a wasmnet guest that uses its main channel as a byte
// stream, as execnet's channel.makefile("r") and makefile("w") do: it reads
// with reads of at most 5 bytes and writes each read back, uppercased,
// through the channel's writer; at the end of its input it sends the number
// of bytes it read. stream.c and stream.rs do the same with the C and Rust
// SDKs.
package main

import (
	"bytes"
	"errors"
	"io"

	"github.com/wasmnet/wasmnet/guest"
)

func main() {
	ch := guest.Channel()
	r, w := ch.Reader(), ch.Writer()
	buf := make([]byte, 5)
	total := 0
	for {
		n, err := r.Read(buf)
		if n > 0 {
			total += n
			if _, werr := w.Write(bytes.ToUpper(buf[:n])); werr != nil {
				panic(werr)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			ch.CloseWithError("stream: " + err.Error())
			return
		}
	}
	if err := ch.Send(total); err != nil {
		panic(err)
	}
}
