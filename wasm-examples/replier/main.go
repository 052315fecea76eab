// Command replier is a long-lived wasmnet worker in execnet's usual
// pattern: each task on the main channel is {"reply": ch, "n": integer}; it
// sends n+1 on ch and closes ch. With the argument "keep" it leaves ch open
// for the client to close. A reply channel already closed is skipped. It returns at nil or the end of the main channel.
package main

import (
	"errors"
	"io"
	"os"

	"github.com/wasmnet/wasmnet/guest"
)

type task struct {
	Reply *guest.Chan `msgpack:"reply"`
	N     int64       `msgpack:"n"`
}

func main() {
	keep := len(os.Args) > 1 && os.Args[1] == "keep"
	ch := guest.Channel()
	for {
		var t *task
		err := ch.ReceiveInto(&t)
		if errors.Is(err, io.EOF) || (err == nil && t == nil) {
			return
		}
		if err != nil {
			panic(err)
		}
		if t.Reply == nil {
			panic("replier: task without a reply channel")
		}
		// A reply channel the client closed first, or one the agent
		// could not hand over, is closed: the answer has no taker.
		if err := t.Reply.Send(t.N + 1); err != nil && !errors.Is(err, guest.ErrClosed) {
			panic(err)
		}
		if !keep {
			t.Reply.Close()
		}
	}
}
