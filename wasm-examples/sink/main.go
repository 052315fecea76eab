// Command sink is a wasmnet guest that swallows data: it receives bin (or str)
// items until nil or the end of the channel, computes a CRC-32 of each to do
// a little work per item, and then sends the total number of bytes.
package main

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/wasmnet/wasmnet/guest"
)

func main() {
	ch := guest.Channel()
	var total int64
	var crc uint32
	for {
		v, err := ch.Receive()
		if errors.Is(err, io.EOF) || err == nil && v == nil {
			break
		}
		if err != nil {
			panic(err)
		}
		var b []byte
		switch item := v.(type) {
		case []byte:
			b = item
		case string:
			b = []byte(item)
		default:
			ch.CloseWithError(fmt.Sprintf("sink: item of type %T, want bytes", v))
			return
		}
		total += int64(len(b))
		crc = crc32.Update(crc, crc32.IEEETable, b)
	}
	_ = crc // the work is the point, not the checksum
	if err := ch.Send(total); err != nil && !errors.Is(err, guest.ErrClosed) {
		panic(err)
	}
}
