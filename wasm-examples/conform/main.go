// Command conform is the conformance guest of the Go SDK: it runs the
// command protocol of README.md on its main channel, like conform.c and
// conform.rs, so that one test drives every SDK against a real agent.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/guest"
)

var mainCh = guest.Channel()

func die(what string, err error) {
	msg := fmt.Sprintf("conform: %s: %v", what, err)
	fmt.Fprintln(os.Stderr, msg)
	mainCh.CloseWithError(msg)
	os.Exit(1)
}

func send(ch *guest.Chan, v any) {
	if err := ch.Send(v); err != nil {
		die("send", err)
	}
}

func main() {
	for {
		v, err := mainCh.Receive()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			die("receive", err)
		}
		cmd, _ := v.([]any)
		name := ""
		if len(cmd) > 0 {
			name, _ = cmd[0].(string)
		}
		if !run(name, cmd) {
			return
		}
	}
}

// run carries out one command and reports whether to read another.
func run(name string, cmd []any) bool {
	switch {
	case name == "echo" && len(cmd) == 2:
		send(mainCh, cmd[1])
	case name == "timeout" && len(cmd) == 2:
		ms, _ := cmd[1].(int64)
		v, err := mainCh.ReceiveTimeout(time.Duration(ms) * time.Millisecond)
		switch {
		case errors.Is(err, guest.ErrTimeout):
			send(mainCh, "timeout")
		case err != nil:
			die("receive with timeout", err)
		default:
			send(mainCh, v)
		}
	case name == "bigrecv":
		v, err := mainCh.Receive()
		if err != nil {
			die("bigrecv", err)
		}
		b, err := msgpack.Marshal(v)
		if err != nil {
			die("bigrecv", err)
		}
		send(mainCh, len(b))
	case name == "newchan":
		c, err := guest.NewChannel()
		if err != nil {
			die("channel_new", err)
		}
		send(mainCh, c)
		for {
			v, err := c.Receive()
			if errors.Is(err, io.EOF) {
				break
			}
			if err == nil {
				err = c.Send(v)
			}
			if err != nil {
				die("echo on the new channel", err)
			}
		}
	case name == "usechan" && len(cmd) == 2:
		c, ok := cmd[1].(*guest.Chan)
		if !ok {
			die("usechan argument", fmt.Errorf("got %T", cmd[1]))
		}
		send(c, "hi")
		if err := c.Close(); err != nil {
			die("close", err)
		}
	case name == "closeerr" && len(cmd) == 2:
		msg, _ := cmd[1].(string)
		if err := mainCh.CloseWithError(msg); err != nil {
			die("close_error", err)
		}
		return false
	case name == "many" && len(cmd) == 2:
		n, _ := cmd[1].(int64)
		chans := make([]any, n)
		for i := range chans {
			c, err := guest.NewChannel()
			if err != nil {
				die("channel_new", err)
			}
			chans[i] = c
		}
		send(mainCh, chans)
		for i, c := range chans {
			send(c.(*guest.Chan), i)
			if err := c.(*guest.Chan).Close(); err != nil {
				die("close", err)
			}
		}
	case name == "trap":
		var table []int
		_ = table[len(os.Args)+5] // an index out of range: a Go runtime panic, not a wasm trap
	case name == "exit":
		return false
	default:
		mainCh.CloseWithError(fmt.Sprintf("conform: unknown command %s/%d", name, len(cmd)))
		return false
	}
	return true
}
