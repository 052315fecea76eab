package channel

import (
	"fmt"
	"time"
)

// Config tunes a Mux. The zero value of a field means its default; use
// DefaultConfig to see them.
type Config struct {
	// Window is how many unread bytes a channel may hold before the peer's
	// sends block. Default 4 MiB.
	Window int
	// MaxFrame is the largest frame this side accepts, and so the largest
	// message the peer may send. Default 64 MiB.
	MaxFrame int
	// KeepAlive is how often a ping is sent on an idle connection, and
	// KeepAliveTimeout how long the peer may be silent before it is taken
	// for gone (default 3 x KeepAlive). A timeout alone pings nothing: it
	// is announced in the hello, and the peer pings at least four times
	// per timeout. When both sides enforce one, each enforces the shorter,
	// so that both notice a cut link alike. Zero disables both, which
	// suits a pipe to a local process that ends with its parent.
	KeepAlive        time.Duration
	KeepAliveTimeout time.Duration
	// AcceptBacklog is how many channels the peer opened may wait for
	// this side to take them (Accept, Mux.Channel, a channel value); the
	// peer's opens past it are refused. Default 4096.
	AcceptBacklog int
	// MaxUnheldBytes bounds the bytes waiting on such channels; a channel
	// whose data would pass it is refused. Default 64 MiB.
	MaxUnheldBytes int
	// MaxUnreadBytes bounds the bytes waiting unread on all the channels
	// of the connection together, held or not: each window bounds one
	// channel, this bounds their number times the window. A data frame
	// that arrives while they reach the bound fails its channel, with an
	// error naming the bound that both sides receive. As with the window,
	// the last message may pass it, by up to MaxFrame. Default 64 MiB.
	MaxUnreadBytes int
	// Handler serves the peer's requests; nil refuses them.
	Handler Handler
	// Info is this side's part of the hello: software version, OS/arch and
	// anything else the peer should know (limits, ABI versions).
	Info Info
	// Owner is what Channel.Owner reports for the channels of this Mux:
	// the gateway for a client's connection. The channel package never
	// uses it.
	Owner any
}

// DefaultConfig returns the defaults.
func DefaultConfig() *Config {
	return &Config{
		Window:         4 << 20,
		MaxFrame:       64 << 20,
		AcceptBacklog:  4096,
		MaxUnheldBytes: 64 << 20,
		MaxUnreadBytes: 64 << 20,
	}
}

// withDefaults returns a copy of c with zero fields set to their defaults,
// or an error naming an invalid field.
func (c *Config) withDefaults() (*Config, error) {
	out := DefaultConfig()
	if c != nil {
		copy := *c
		if copy.Window == 0 {
			copy.Window = out.Window
		}
		if copy.MaxFrame == 0 {
			copy.MaxFrame = out.MaxFrame
		}
		if copy.AcceptBacklog == 0 {
			copy.AcceptBacklog = out.AcceptBacklog
		}
		if copy.MaxUnheldBytes == 0 {
			copy.MaxUnheldBytes = out.MaxUnheldBytes
		}
		if copy.MaxUnreadBytes == 0 {
			copy.MaxUnreadBytes = out.MaxUnreadBytes
		}
		out = &copy
	}
	switch {
	case out.Window < 1024:
		return nil, fmt.Errorf("channel: config: window of %d bytes is below 1024", out.Window)
	case out.MaxFrame < 1024 || out.MaxFrame > 1<<30:
		return nil, fmt.Errorf("channel: config: max frame of %d bytes is outside [1 KiB, 1 GiB]", out.MaxFrame)
	case out.AcceptBacklog < 0 || out.MaxUnheldBytes < 0 || out.MaxUnreadBytes < 0:
		return nil, fmt.Errorf("channel: config: negative accept backlog, unheld or unread bytes")
	case out.KeepAlive < 0 || out.KeepAliveTimeout < 0:
		return nil, fmt.Errorf("channel: config: negative keepalive")
	}
	if out.KeepAlive > 0 && out.KeepAliveTimeout == 0 {
		out.KeepAliveTimeout = 3 * out.KeepAlive
	}
	return out, nil
}
