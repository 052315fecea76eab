package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/wasmnet/wasmnet/guest"
)

// A channelValue is a guest channel as a Starlark value. Two values of the
// same handle are equal.
type channelValue struct {
	c      *guest.Chan
	thread *starlark.Thread // the program's only thread, cancelled when an iteration fails
	// closed is set once the program closed the channel through this
	// value: an error after that can no longer travel on it.
	closed bool
}

var (
	_ starlark.HasAttrs   = (*channelValue)(nil)
	_ starlark.Iterable   = (*channelValue)(nil)
	_ starlark.Comparable = (*channelValue)(nil)
)

func newChannel(thread *starlark.Thread, c *guest.Chan) *channelValue {
	return &channelValue{c: c, thread: thread}
}

func (v *channelValue) String() string        { return fmt.Sprintf("<channel %d>", v.c.Handle()) }
func (v *channelValue) Type() string          { return "channel" }
func (v *channelValue) Freeze()               {}
func (v *channelValue) Truth() starlark.Bool  { return starlark.True }
func (v *channelValue) Hash() (uint32, error) { return uint32(v.c.Handle()), nil }

func (v *channelValue) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	w := y.(*channelValue)
	switch op {
	case syntax.EQL:
		return v.c.Handle() == w.c.Handle(), nil
	case syntax.NEQ:
		return v.c.Handle() != w.c.Handle(), nil
	}
	return false, fmt.Errorf("%s %s %s not supported", v.Type(), op, w.Type())
}

var channelMethods = map[string]func(v *channelValue, thread *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error){
	"send":    (*channelValue).send,
	"receive": (*channelValue).receive,
	"close":   (*channelValue).close,
	"close_send": func(v *channelValue, _ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs("close_send", args, kwargs, 0); err != nil {
			return nil, err
		}
		if err := v.c.CloseSend(); err != nil {
			return nil, fmt.Errorf("close_send: %s", trimGuest(err))
		}
		return starlark.None, nil
	},
}

func (v *channelValue) Attr(name string) (starlark.Value, error) {
	m, ok := channelMethods[name]
	if !ok {
		return nil, nil
	}
	return starlark.NewBuiltin(name, func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		return m(v, thread, args, kwargs)
	}).BindReceiver(v), nil
}

func (v *channelValue) AttrNames() []string {
	return []string{"close", "close_send", "receive", "send"}
}

// send(value) sends one value.
func (v *channelValue) send(_ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	if err := starlark.UnpackPositionalArgs("send", args, kwargs, 1, &x); err != nil {
		return nil, err
	}
	g, err := toGo(x, 0)
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	if err := v.c.Send(g); err != nil {
		return nil, fmt.Errorf("send: %s", trimGuest(err))
	}
	return starlark.None, nil
}

// receive(timeout=None, default=unset) returns the next value. With a
// timeout in seconds it waits at most that long, then returns default, or
// fails when there is none. A closed channel fails, as execnet's EOFError.
func (v *channelValue) receive(_ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var timeout, dflt starlark.Value = starlark.None, nil
	if err := starlark.UnpackArgs("receive", args, kwargs, "timeout?", &timeout, "default?", &dflt); err != nil {
		return nil, err
	}
	var (
		x   any
		err error
	)
	if timeout == starlark.None {
		x, err = v.c.Receive()
	} else {
		secs, ok := starlark.AsFloat(timeout)
		if !ok || math.IsNaN(secs) || secs < 0 {
			return nil, fmt.Errorf("receive: timeout must be a number of seconds >= 0, not %s", timeout)
		}
		x, err = v.c.ReceiveTimeout(time.Duration(min(secs, 1e9) * float64(time.Second)))
		if errors.Is(err, guest.ErrTimeout) && dflt != nil {
			return dflt, nil
		}
	}
	if err != nil {
		return nil, receiveError(err)
	}
	return toStarlark(v.thread, x, 0)
}

// receiveError words the end of a channel as a Starlark error.
func receiveError(err error) error {
	var re *guest.RemoteError
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("receive: the channel is closed")
	case errors.As(err, &re):
		return fmt.Errorf("receive: the peer closed the channel with an error: %s", re.Message)
	case errors.Is(err, guest.ErrTimeout):
		return errors.New("receive: timed out")
	}
	return fmt.Errorf("receive: %s", trimGuest(err))
}

// close(error=None) closes the channel, with an error text for the peer
// when one is given.
func (v *channelValue) close(_ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text starlark.Value = starlark.None
	if err := starlark.UnpackArgs("close", args, kwargs, "error?", &text); err != nil {
		return nil, err
	}
	var err error
	if text == starlark.None {
		err = v.c.Close()
	} else {
		s, ok := starlark.AsString(text)
		if !ok {
			s = text.String()
		}
		err = v.c.CloseWithError(s)
	}
	if err != nil {
		return nil, fmt.Errorf("close: %s", trimGuest(err))
	}
	v.closed = true
	return starlark.None, nil
}

// Iterate receives until the channel ends. A remote error ends the program,
// since an iterator cannot fail on its own.
func (v *channelValue) Iterate() starlark.Iterator { return &channelIter{v: v} }

type channelIter struct{ v *channelValue }

func (it *channelIter) Next(p *starlark.Value) bool {
	x, err := it.v.c.Receive()
	if errors.Is(err, io.EOF) {
		return false
	}
	if err == nil {
		*p, err = toStarlark(it.v.thread, x, 0)
	}
	if err != nil {
		it.v.thread.Cancel(fmt.Sprintf("iterating over %s: %v", it.v, receiveError(err)))
		return false
	}
	return true
}

func (it *channelIter) Done() {}

// newchannel() opens a channel; send it inside a value to use it.
func newChannelBuiltin(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs("newchannel", args, kwargs, 0); err != nil {
		return nil, err
	}
	c, err := guest.NewChannel()
	if err != nil {
		return nil, fmt.Errorf("newchannel: %s", trimGuest(err))
	}
	return newChannel(thread, c), nil
}
