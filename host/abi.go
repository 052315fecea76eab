package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmnet/wasmnet/abi"
	"github.com/wasmnet/wasmnet/channel"
)

// instantiateABI defines the host module that implements abi on top of
// channel. Its functions find their execution in the calling context, and
// use wazero's stack-based calling convention, which avoids reflection.
func instantiateABI(ctx context.Context, rt wazero.Runtime) error {
	impl := map[string]api.GoModuleFunc{
		abi.FuncABIVersion:  func(_ context.Context, _ api.Module, s []uint64) { s[0] = abi.Version },
		abi.FuncMarker:      func(_ context.Context, _ api.Module, s []uint64) { s[0] = abi.Version },
		abi.FuncMain:        guestCall(func(e *execution, _ api.Module, _ []uint64) abi.Result { return abi.Result(e.main.ID()) }),
		abi.FuncNew:         guestCall((*execution).channelNew),
		abi.FuncSend:        guestCall((*execution).send),
		abi.FuncReceive:     guestCall((*execution).receive),
		abi.FuncClose:       guestCall((*execution).close),
		abi.FuncCloseError:  guestCall((*execution).closeError),
		abi.FuncCloseSend:   guestCall((*execution).closeSend),
		abi.FuncMemoryLimit: memoryLimit,
	}
	b := rt.NewHostModuleBuilder(abi.ModuleName)
	for _, f := range abi.Functions() {
		fn, ok := impl[f.Name]
		if !ok {
			return fmt.Errorf("no implementation of %s", f.Name)
		}
		b.NewFunctionBuilder().WithGoModuleFunction(fn, valueTypes(f.Params), valueTypes(f.Results)).Export(f.Name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// memoryLimit is the ABI's memory_limit: the execution's memory limit, or
// the module's own maximum where that is lower. It is zero where no
// execution calls (in _initialize, while an image is made), so a guest
// keeps its defaults there and nothing of one execution enters an image.
func memoryLimit(ctx context.Context, mod api.Module, s []uint64) {
	s[0] = 0
	e, _ := ctx.Value(execKey{}).(*execution)
	if e == nil || e.memory == nil || e.initing {
		return
	}
	limit := e.memory.limit
	if mem := mod.Memory(); mem != nil {
		if pages, ok := mem.Definition().Max(); ok {
			limit = min(limit, uint64(pages)<<16)
		}
	}
	s[0] = limit
}

func valueTypes(ts []abi.ValueType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		out[i] = api.ValueType(t)
	}
	return out
}

// guestCall adapts a host function body to wazero, finding the execution
// the call comes from.
func guestCall(fn func(e *execution, mod api.Module, stack []uint64) abi.Result) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		e, _ := ctx.Value(execKey{}).(*execution)
		if e == nil {
			stack[0] = resultWord(abi.ErrUnavailable)
			return
		}
		if e.initing {
			e.initABI = true // what the guest got must not enter an image
		}
		e.stopPastLimit()
		stack[0] = resultWord(fn(e, mod, stack))
		e.stopPastLimit()
	}
}

// stopPastLimit ends, as yield would, a guest whose run-time limit has
// passed, at the host call it makes then or returns from: a send must not
// leave after the limit, nor a receive the limit cut short return to a
// guest that would go on as if it had timed out by itself.
func (e *execution) stopPastLimit() {
	if e.ctx.Err() != nil && errors.Is(context.Cause(e.ctx), context.DeadlineExceeded) {
		panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
	}
}

// resultWord encodes an i32 result for wazero's stack.
func resultWord(r abi.Result) uint64 { return uint64(uint32(int32(r))) }

// lookup returns the handle h, or, for a handle the guest does not hold,
// the result its call returns: closed for one it released (handles are
// channel ids, never reused, so every id up to the largest released one
// answers closed), unknown for any other.
func (e *execution) lookup(h uint64) (*handle, abi.Result) {
	id := uint32(h)
	if hd := e.handles[id]; hd != nil {
		return hd, abi.Ok
	}
	if id != 0 && id <= e.maxReleased {
		return nil, abi.ErrClosed
	}
	return nil, abi.ErrUnknown
}

// release forgets a handle whose channel is closed both ways and whose end
// the guest has seen or made, so that a long-lived guest holds only the
// channels still open: the limit of maxHandles is on those.
func (e *execution) release(id uint32) {
	delete(e.handles, id)
	e.maxReleased = max(e.maxReleased, id)
}

// room makes room for one more handle if the guest holds maxHandles:
// channels the peer closed whose end the guest never read are released
// (a message still queued on one is kept as its pending message, so none
// is lost). It reports whether there is room.
func (e *execution) room() bool {
	if len(e.handles) < maxHandles {
		return true
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for id, h := range e.handles {
		if h.pending != nil || !h.ch.IsClosed() {
			continue
		}
		msg, err := h.ch.ReceiveRaw(done)
		var remote *channel.RemoteError
		switch {
		case err == nil:
			h.pending, h.code = msg, int32(abi.Ok)
		case errors.As(err, &remote):
			h.pending, h.code = []byte(remote.Message), int32(abi.ErrRemote)
		case err == io.EOF, errors.Is(err, channel.ErrClosed), errors.Is(err, channel.ErrMuxClosed):
			e.release(id)
		}
	}
	return len(e.handles) < maxHandles
}

func (e *execution) channelNew(_ api.Module, _ []uint64) abi.Result {
	if !e.room() {
		return abi.ErrUnavailable
	}
	ch, err := e.agent.mux.OpenChannel()
	if err != nil {
		return abi.ErrUnavailable
	}
	e.handles[ch.ID()] = &handle{ch: ch}
	return abi.Result(ch.ID())
}

// send(h, ptr, len)
func (e *execution) send(mod api.Module, s []uint64) abi.Result {
	h, r := e.lookup(s[0])
	if h == nil {
		return r
	}
	size := uint32(s[2])
	if int64(size) > int64(e.maxMsg) {
		return abi.ErrTooLarge
	}
	msg, ok := mod.Memory().Read(uint32(s[1]), size)
	if !ok {
		return abi.ErrMemory
	}
	err := channel.ChannelIDs(msg, func(id uint32) error {
		if e.handles[id] == nil {
			return errors.New("foreign channel")
		}
		return nil
	})
	if err != nil {
		return abi.ErrBadValue
	}
	return e.sendResult(h.ch.SendRaw(e.ctx, msg))
}

func (e *execution) sendResult(err error) abi.Result {
	var size *channel.FrameSizeError
	switch {
	case err == nil:
		return abi.Ok
	case errors.As(err, &size):
		return abi.ErrTooLarge
	case errors.Is(err, channel.ErrClosed), errors.Is(err, channel.ErrMuxClosed), e.agent.ctx.Err() != nil:
		// The connection's end, or the agent's, closes every channel.
		return abi.ErrClosed
	}
	return abi.ErrUnavailable
}

// receive(h, buf, cap, timeout_ns, len_out)
func (e *execution) receive(mod api.Module, s []uint64) abi.Result {
	id := uint32(s[0])
	h, r := e.lookup(s[0])
	if h == nil {
		return r
	}
	buf, capacity, timeout, lenOut := uint32(s[1]), uint32(s[2]), int64(s[3]), uint32(s[4])
	mem := mod.Memory()
	if _, ok := mem.Read(buf, capacity); !ok {
		return abi.ErrMemory
	}
	if _, ok := mem.Read(lenOut, 4); !ok {
		return abi.ErrMemory
	}
	if h.pending == nil {
		code := e.next(h, timeout, func(msg []byte) bool {
			mem.WriteUint32Le(lenOut, uint32(len(msg)))
			if uint32(len(msg)) > capacity {
				return false
			}
			mem.Write(buf, msg)
			e.grant(msg)
			return true
		})
		if code != abi.Ok {
			// After the peer's CloseSend the guest may still send: only a
			// channel closed both ways is released.
			if code == abi.ErrClosed && h.ch.IsClosed() {
				e.release(id)
			}
			return code
		}
		if h.pending == nil { // delivered
			return abi.Ok
		}
	}
	msg, code := h.pending, abi.Result(h.code)
	mem.WriteUint32Le(lenOut, uint32(len(msg)))
	if uint32(len(msg)) > capacity {
		return abi.ErrTooLarge
	}
	mem.Write(buf, msg)
	h.pending = nil
	switch code {
	case abi.Ok:
		e.grant(msg)
	case abi.ErrRemote:
		e.release(id) // the end of the channel, told once; closed afterwards
	}
	return code
}

// next waits for h's next message and lends it to deliver, which reports
// whether it took it; a message it did not take (the guest's buffer is too
// small) is copied to h.pending, as is a remote error.
func (e *execution) next(h *handle, timeout int64, deliver func(msg []byte) bool) abi.Result {
	ctx := e.ctx
	if timeout >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeout))
		defer cancel()
	}
	// Lent, not given: a large message's buffer goes back to the channel
	// once it is in the guest's memory.
	err := h.ch.ReceiveRawFunc(ctx, func(msg []byte) error {
		if !deliver(msg) {
			h.pending, h.code = bytes.Clone(msg), int32(abi.Ok)
		}
		return nil
	})
	var remote *channel.RemoteError
	switch {
	case err == nil:
		return abi.Ok
	case errors.As(err, &remote):
		h.pending, h.code = []byte(remote.Message), int32(abi.ErrRemote)
		if h.pending == nil {
			h.pending = []byte{}
		}
		return abi.Ok
	case err == io.EOF, errors.Is(err, channel.ErrClosed):
		// Before the context: the client's close also ends the
		// execution's context (watchMain), maybe between two of the
		// checks below.
		return abi.ErrClosed
	case errors.Is(context.Cause(e.ctx), errMainClosed), e.agent.ctx.Err() != nil, errors.Is(err, channel.ErrMuxClosed):
		// Its client closed the channel, exited (Gateway.Exit) or went
		// away: for a guest waiting on input that is the end of its
		// input, not a fault, so it can return as it does at any other
		// end.
		return abi.ErrClosed
	case e.ctx.Err() != nil:
		return abi.ErrUnavailable // its run-time limit; the guest is stopping
	case errors.Is(err, context.DeadlineExceeded):
		return abi.ErrTimeout
	}
	return abi.ErrUnavailable
}

// grant gives the guest the channels named in a message it received. A
// channel it cannot take, because it holds maxHandles open ones, is closed
// with an error, so that the peer waiting on it learns why at once; the
// guest's calls on it answer closed.
func (e *execution) grant(msg []byte) {
	channel.ChannelIDs(msg, func(id uint32) error {
		if e.handles[id] != nil {
			return nil
		}
		ch := e.agent.mux.Channel(id)
		if ch == nil {
			return nil
		}
		if !e.room() {
			ch.CloseWithError(fmt.Sprintf("wasmnet agent: channel %d not handed to the guest, which holds %d open channels", id, maxHandles))
			e.maxReleased = max(e.maxReleased, id)
			return nil
		}
		e.handles[id] = &handle{ch: ch}
		return nil
	})
}

// close(h); closing a released handle again is not an error.
func (e *execution) close(_ api.Module, s []uint64) abi.Result {
	h, r := e.lookup(s[0])
	if h == nil {
		return closeAgain(r)
	}
	h.closed.Store(true)
	h.ch.Close()
	e.release(uint32(s[0]))
	return abi.Ok
}

// close_error(h, ptr, len)
func (e *execution) closeError(mod api.Module, s []uint64) abi.Result {
	h, r := e.lookup(s[0])
	text, ok := mod.Memory().Read(uint32(s[1]), uint32(s[2]))
	switch {
	case h == nil:
		return closeAgain(r)
	case !ok:
		return abi.ErrMemory
	}
	h.closed.Store(true)
	h.ch.CloseWithError(string(text))
	e.release(uint32(s[0]))
	return abi.Ok
}

func closeAgain(r abi.Result) abi.Result {
	if r == abi.ErrClosed {
		return abi.Ok
	}
	return r
}
