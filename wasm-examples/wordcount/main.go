// Command wordcount is a wasmnet guest that counts words. It receives text
// chunks (str or bin items) until it receives nil or the channel closes, then
// sends one map[string]int64 of counts and returns. Chunks are concatenated:
// a word may span two chunks. The rule is internal/wordcount's.
package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/wasmnet/wasmnet/guest"
	"github.com/wasmnet/wasmnet/internal/wordcount"
)

func main() {
	ch := guest.Channel()
	counts := map[string]int64{}
	var pending []byte // the unfinished last word of the chunks so far
	for {
		v, err := ch.Receive()
		if errors.Is(err, io.EOF) || err == nil && v == nil {
			break
		}
		if err != nil {
			panic(err)
		}
		switch chunk := v.(type) {
		case string:
			pending = append(pending, chunk...)
		case []byte:
			pending = append(pending, chunk...)
		default:
			ch.CloseWithError(fmt.Sprintf("wordcount: item of type %T, want a string or bytes", v))
			return
		}
		n := wordcount.Complete(pending)
		wordcount.Count(string(pending[:n]), counts)
		pending = append(pending[:0], pending[n:]...)
	}
	wordcount.Count(string(pending), counts)
	// After the client closed the channel the send fails with ErrClosed: the
	// client asked for no answer.
	if err := ch.Send(counts); err != nil && !errors.Is(err, guest.ErrClosed) {
		panic(err)
	}
}
