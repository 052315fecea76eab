// Command chanpass is a wasmnet guest that passes channels both ways.
//
// It opens a channel and sends it to the client on the main channel as
// {"chan": ch}, then echoes every item that arrives on it. When the client
// sends {"chan": c} on the main channel, the guest sends "hello from guest"
// on c and echoes every item that arrives on c too. Other items on the main
// channel are ignored. The guest returns when every channel it watches has
// closed.
//
// A receive blocks the whole guest, so it cannot wait on several channels
// from several goroutines; it polls them in turn with a short timeout.
package main

import (
	"errors"
	"time"

	"github.com/wasmnet/wasmnet/guest"
)

// poll is how long the guest waits on one channel before it looks at the
// next; it bounds the extra latency of an echo.
const poll = 2 * time.Millisecond

func main() {
	mainCh := guest.Channel()
	mine, err := guest.NewChannel()
	if err != nil {
		panic(err)
	}
	if err := mainCh.Send(map[string]any{"chan": mine}); err != nil {
		panic(err)
	}
	echoes := []*guest.Chan{mine}
	watchMain := true
	for watchMain || len(echoes) > 0 {
		if watchMain {
			v, err := mainCh.ReceiveTimeout(poll)
			switch {
			case errors.Is(err, guest.ErrTimeout):
			case err != nil:
				watchMain = false
			default:
				if c := passedChan(v); c != nil {
					if err := c.Send("hello from guest"); err == nil {
						echoes = append(echoes, c)
					}
				}
			}
		}
		echoes = echoOnce(echoes)
	}
}

// passedChan returns the channel in a {"chan": c} item, or nil.
func passedChan(v any) *guest.Chan {
	m, _ := v.(map[string]any)
	c, _ := m["chan"].(*guest.Chan)
	return c
}

// echoOnce waits briefly on each channel, echoes what arrived, and returns
// the channels that are still open.
func echoOnce(chans []*guest.Chan) []*guest.Chan {
	open := chans[:0]
	for _, c := range chans {
		v, err := c.ReceiveTimeout(poll)
		if err == nil {
			err = c.Send(v)
		}
		if err == nil || errors.Is(err, guest.ErrTimeout) {
			open = append(open, c)
		}
	}
	return open
}
