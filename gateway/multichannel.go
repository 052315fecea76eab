package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/wasmnet/wasmnet/channel"
)

// A MultiChannel is one channel per gateway, usually those of one module
// run on a whole Group, handled together.
//
// Receive items either through Receive, which merges all channels into one
// queue, or through ReceiveEach, not both: the first Receive starts one
// goroutine per channel that receives on it, so ReceiveEach afterwards is an
// error. SendEach, WaitClose and Close may be used at any time, from any
// goroutine.
type MultiChannel struct {
	gws   []*Gateway
	chans []*channel.Channel

	mergeOnce sync.Once
	merging   atomic.Bool     // Receive was called
	merged    chan mergedItem // items from every channel, each channel's in order
	remaining atomic.Int64    // channels whose feeder has not yet ended
	allDone   chan struct{}   // closed once every feeder has ended
	stop      chan struct{}   // closed by Close: feeders and Receive end
	closeOnce sync.Once
	feeders   sync.WaitGroup
}

type mergedItem struct {
	i   int // the index of ch in chans
	ch  *channel.Channel
	v   any
	err error
	end bool // ch closed normally: its last entry, which Receive skips
}

// NewMultiChannel joins chans, where chans[i] belongs to gws[i].
func NewMultiChannel(gws []*Gateway, chans []*channel.Channel) *MultiChannel {
	if len(gws) != len(chans) {
		panic("gateway: NewMultiChannel: gateways and channels differ in number")
	}
	return &MultiChannel{
		gws:     gws,
		chans:   chans,
		merged:  make(chan mergedItem, len(chans)),
		allDone: make(chan struct{}),
		stop:    make(chan struct{}),
	}
}

// Channels returns the channels, in the order of Gateways.
func (m *MultiChannel) Channels() []*channel.Channel { return m.chans }

// Gateways returns the gateways, parallel to Channels.
func (m *MultiChannel) Gateways() []*Gateway { return m.gws }

// gatewayOf returns the id of the gateway of channel i, for error messages.
func (m *MultiChannel) gatewayOf(i int) string {
	if m.gws[i] == nil {
		return fmt.Sprintf("channel %d", i)
	}
	return m.gws[i].id
}

// SendEach sends v on every channel, in order, blocking while a channel's
// window is full. It tries every channel and returns the errors joined.
func (m *MultiChannel) SendEach(v any) error {
	var errs []error
	for i, ch := range m.chans {
		if err := ch.Send(v); err != nil {
			errs = append(errs, fmt.Errorf("gateway %s: %w", m.gatewayOf(i), err))
		}
	}
	return errors.Join(errs...)
}

// ReceiveEach receives one item from every channel, in channel order. It
// stops at the first error, which names the gateway; a channel that ended
// gives an error wrapping io.EOF. It may not be used once Receive was.
func (m *MultiChannel) ReceiveEach(ctx context.Context) ([]any, error) {
	if m.merging.Load() {
		return nil, errors.New("gateway: multichannel: ReceiveEach after Receive: use one or the other")
	}
	out := make([]any, len(m.chans))
	for i, ch := range m.chans {
		v, err := ch.Receive(ctx)
		if err != nil {
			return nil, fmt.Errorf("gateway %s: receive: %w", m.gatewayOf(i), err)
		}
		out[i] = v
	}
	return out, nil
}

// Receive returns the next item from any channel, as items arrive, with the
// channel it came from; the items of one channel come in their order. A
// channel that ends with an error (a guest's *channel.RemoteError, a lost
// agent) gives that error once, with its channel, and then nothing more.
// Once every channel has ended and every item has been returned, Receive
// returns io.EOF. If ctx ends first it returns ctx.Err() and nothing is
// lost. Receive is safe for concurrent use.
//
// The first Receive starts one goroutine per channel, which receives on it
// into a queue of bounded size, so flow control still holds; each ends when
// its channel has ended and its items were taken, or at Close. A caller
// that stops before io.EOF should call Close.
func (m *MultiChannel) Receive(ctx context.Context) (*channel.Channel, any, error) {
	m.mergeOnce.Do(m.startMerge)
	select {
	case <-m.stop:
		return nil, nil, fmt.Errorf("gateway: multichannel: receive: %w", channel.ErrClosed)
	default:
	}
	for {
		it, err := m.next(ctx)
		if err != nil {
			return nil, nil, err
		}
		if !it.end {
			return it.ch, it.v, it.err
		}
	}
}

// next takes the next entry of the merged queue.
func (m *MultiChannel) next(ctx context.Context) (mergedItem, error) {
	select {
	case it := <-m.merged:
		return it, nil
	default:
	}
	select {
	case it := <-m.merged:
		return it, nil
	case <-m.allDone:
		// Every feeder has ended, so nothing more comes; take what is left.
		select {
		case it := <-m.merged:
			return it, nil
		default:
			return mergedItem{}, io.EOF
		}
	case <-m.stop:
		return mergedItem{}, fmt.Errorf("gateway: multichannel: receive: %w", channel.ErrClosed)
	case <-ctx.Done():
		return mergedItem{}, ctx.Err()
	}
}

// An Item is one entry of a MultiChannel's merged queue: a value, or the
// end of one channel.
type Item struct {
	Gateway *Gateway // the gateway the entry came from
	Channel *channel.Channel
	Value   any
	// End marks a channel's last entry when it closed normally, by the
	// guest or by this side; Value is then nil.
	End bool
	// Err is set on a channel's last entry when it ended with an error: a
	// guest's *channel.RemoteError, a lost agent.
	Err error
}

// ReceiveItem returns the next entry of the merged queue with the gateway
// it came from, as execnet's make_receive_queue(endmarker) does: the items
// of every channel as they arrive, and one last entry per channel when it
// ends, with End set for a normal close or Err for an error. After every
// channel's last entry it returns io.EOF. It ends like Receive, shares its
// queue, and is safe for concurrent use; use either it or Receive.
func (m *MultiChannel) ReceiveItem(ctx context.Context) (Item, error) {
	m.mergeOnce.Do(m.startMerge)
	select {
	case <-m.stop:
		return Item{}, fmt.Errorf("gateway: multichannel: receive: %w", channel.ErrClosed)
	default:
	}
	it, err := m.next(ctx)
	if err != nil {
		return Item{}, err
	}
	out := Item{Gateway: m.gws[it.i], Channel: it.ch, Value: it.v, End: it.end, Err: it.err}
	if errors.Is(it.err, channel.ErrClosed) {
		out.End, out.Err = true, nil // closed by this side
	}
	return out, nil
}

func (m *MultiChannel) startMerge() {
	m.merging.Store(true)
	m.remaining.Store(int64(len(m.chans)))
	if len(m.chans) == 0 {
		close(m.allDone)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.feeders.Add(len(m.chans))
	for i, ch := range m.chans {
		go m.feed(ctx, i, ch)
	}
	go func() {
		select {
		case <-m.stop:
		case <-m.allDone:
		}
		cancel()
	}()
}

// feed moves the items of ch into the merged queue until ch ends or the
// MultiChannel is closed.
func (m *MultiChannel) feed(ctx context.Context, i int, ch *channel.Channel) {
	defer func() {
		m.feeders.Done()
		if m.remaining.Add(-1) == 0 {
			close(m.allDone)
		}
	}()
	for {
		v, err := ch.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		it := mergedItem{i: i, ch: ch, v: v, err: err}
		if err == io.EOF {
			it.err, it.end = nil, true
		}
		select {
		case m.merged <- it:
		case <-m.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// GatewayOf returns the gateway of ch, one of Channels, or nil.
func (m *MultiChannel) GatewayOf(ch *channel.Channel) *Gateway {
	for i, c := range m.chans {
		if c == ch {
			return m.gws[i]
		}
	}
	return nil
}

// WaitClose waits until every channel is closed and returns the first
// *channel.RemoteError in channel order, wrapped with its gateway's id,
// else the first other error (a lost agent), else nil.
func (m *MultiChannel) WaitClose(ctx context.Context) error {
	var first, other error
	for i, ch := range m.chans {
		err := ch.WaitClose(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			continue
		}
		err = fmt.Errorf("gateway %s: %w", m.gatewayOf(i), err)
		var re *channel.RemoteError
		if errors.As(err, &re) && first == nil {
			first = err
		} else if other == nil {
			other = err
		}
	}
	if first != nil {
		return first
	}
	return other
}

// Close closes every channel and ends the goroutines of Receive, which
// then returns an error wrapping channel.ErrClosed. It waits for them.
func (m *MultiChannel) Close() error {
	m.closeOnce.Do(func() { close(m.stop) })
	var errs []error
	for i, ch := range m.chans {
		if err := ch.Close(); err != nil {
			errs = append(errs, fmt.Errorf("gateway %s: %w", m.gatewayOf(i), err))
		}
	}
	m.feeders.Wait()
	return errors.Join(errs...)
}
