package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/gateway"
)

// A job runs one module on the gateways of a group, deals the input out to
// the executions and collects what they send. It runs on one goroutine (in
// run); each execution has a sender and a receiver goroutine that report to
// it through events.
//
// The chunks dealt to an execution count as done only when it ends cleanly:
// with --merge its maps are summed into the result only then. When its
// gateway is lost first (the agent died, the link was cut), its chunks are
// dealt again to executions still taking input or, once every one has had
// its end of input, to new executions started on the gateways left, as
// pytest-xdist hands a crashed worker's tests to the others. A chunk is
// dealt again at most --retries times.
type job struct {
	r       *runState
	mod     gateway.Module
	opts    []gateway.ExecOption
	values  []any
	input   bool // --input was given: executions get chunks, then their end of input
	retries int
	prog    *progress

	events      chan event
	freed       chan struct{} // a token when a sender took a chunk or stopped
	execs       []*execution
	queue       []*chunk // chunks of lost executions, dealt before new ones
	starting    int      // executions being started for the queue
	startFailed int      // starts that failed, and the last one's error
	startErr    error
	lost        map[*gateway.Gateway]bool
	wg          sync.WaitGroup // every goroutine the job started
}

// An execution is one run of the module on one gateway.
type execution struct {
	gw    *gateway.Gateway
	ch    *channel.Channel
	stats *gatewayStats

	in         chan *chunk // the sender's next chunk; closed at the end of input
	inOpen     bool
	dealt      []*chunk // every chunk handed to the sender
	sentBytes  int64    // bytes of the chunks dealt
	dead       atomic.Bool
	sendErr    error // set by the sender before dead
	merged     counts
	closedByUs bool // --take closed it
	ended      bool
}

// An event is an item or the end of an execution, or a started execution.
type event struct {
	e       *execution
	v       any
	err     error
	end     bool
	started bool
}

func newJob(r *runState, mod gateway.Module, opts []gateway.ExecOption, values []any, input bool, prog *progress) *job {
	return &job{
		r: r, mod: mod, opts: opts, values: values, input: input, retries: r.flags.retries, prog: prog,
		events: make(chan event), freed: make(chan struct{}, 1), lost: map[*gateway.Gateway]bool{},
	}
}

// add starts the goroutines of an execution whose values were sent.
func (j *job) add(ctx context.Context, e *execution) {
	e.in = make(chan *chunk, 1)
	e.inOpen = j.input
	e.merged = counts{}
	j.execs = append(j.execs, e)
	j.r.mu.Lock()
	j.r.stats = append(j.r.stats, e.stats)
	j.r.mu.Unlock()
	j.wg.Go(func() { j.receive(ctx, e) })
	j.wg.Go(func() { j.send(ctx, e) })
	if !j.input {
		close(e.in)
	}
}

// start runs the module on gw and sends it the --send values.
func (j *job) start(ctx context.Context, gw *gateway.Gateway, id string) (*execution, error) {
	ch, err := gw.RemoteExec(ctx, j.mod, j.opts...)
	if err != nil {
		return nil, err
	}
	for _, v := range j.values {
		if err := ch.SendContext(ctx, v); err != nil {
			ch.Close()
			return nil, fmt.Errorf("gateway %s: send: %w", gw.ID(), err)
		}
	}
	j.prog.moduleStarted()
	return &execution{gw: gw, ch: ch, stats: &gatewayStats{id: id, start: time.Now()}}, nil
}

// receive reports the items of e and its end.
func (j *job) receive(ctx context.Context, e *execution) {
	for {
		v, err := e.ch.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		ev := event{e: e, v: v, err: err, end: err != nil}
		select {
		case j.events <- ev:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// send sends the chunks it is handed, then half-closes the channel. At the first failed send it
// stops: a lost connection or an ended guest is seen by receive; a chunk
// that cannot be read or sent closes the channel with that error, so that
// the guest is not left waiting for input and receive sees the end.
func (j *job) send(ctx context.Context, e *execution) {
	defer notify(j.freed)
	for c := range e.in {
		notify(j.freed)
		b, err := c.bytes()
		if err != nil {
			e.fail(err)
			return
		}
		if err := e.ch.SendContext(ctx, b); err != nil {
			var tooBig *channel.FrameSizeError
			if errors.As(err, &tooBig) {
				e.fail(fmt.Errorf("input %s at byte %d: %w", c.file, c.off, err))
			} else {
				e.stop() // the guest ended or the link was lost: receive sees which
			}
			return
		}
		c.release()
		j.r.chunkSent(e.stats, len(b), j.prog)
	}
	if !e.dead.Load() {
		e.ch.CloseSend() // the end of the guest's input; it can still answer
	}
}

// fail ends e's guest with err: the guest gets an error for its end of
// input and the run reports err.
func (e *execution) fail(err error) {
	e.sendErr = fmt.Errorf("input: %w", err)
	e.ch.CloseWithError(e.sendErr.Error())
	e.stop()
}

// stop marks the sender stopped and takes what the job still hands it.
func (e *execution) stop() {
	e.dead.Store(true)
	for range e.in { // until the job closes in
	}
}

// run deals the chunks from chunks (closed at the end of input; nil
// without input) and handles events until every execution has ended.
func (j *job) run(ctx context.Context, chunks <-chan *chunk) error {
	defer j.endInput() // so that every sender ends, however run does
	var pending *chunk
	for {
		if pending == nil && len(j.queue) > 0 {
			pending, j.queue = j.queue[0], j.queue[1:]
		}
		if pending != nil {
			if e := j.pick(); e != nil {
				e.dealt = append(e.dealt, pending)
				e.sentBytes += int64(pending.size())
				e.in <- pending // only run sends on in, and it is empty
				pending = nil
				continue
			}
			if pending.lost == 0 && !j.takesInput() {
				// Every guest has ended without taking all the input (they
				// failed, or answer early): their errors say why.
				pending, chunks = nil, nil
				continue
			}
			if err := j.startMore(ctx); err != nil {
				return err
			}
		}
		if chunks == nil && pending == nil && len(j.queue) == 0 {
			j.endInput()
			if j.done() {
				return nil
			}
		}
		var next <-chan *chunk
		if pending == nil {
			next = chunks
		}
		select {
		case c, ok := <-next:
			if !ok {
				chunks = nil
				continue
			}
			pending = c
		case ev := <-j.events:
			if err := j.handle(ctx, ev); err != nil {
				return err
			}
		case <-j.freed:
		case <-ctx.Done():
			return nil
		}
	}
}

// pick returns the execution to deal the next chunk to: of those taking
// input with room for it now, the one dealt the fewest bytes.
func (j *job) pick() *execution {
	var best *execution
	for _, e := range j.execs {
		if e.ended || !e.inOpen || e.dead.Load() || len(e.in) > 0 {
			continue
		}
		if best == nil || e.sentBytes < best.sentBytes {
			best = e
		}
	}
	return best
}

// startMore starts executions for the queue of lost chunks when no
// execution takes input any more: one on each gateway left, up to one per
// chunk.
func (j *job) startMore(ctx context.Context) error {
	if j.takesInput() || j.starting > 0 {
		return nil // it will take the chunk when it has room
	}
	if j.startFailed > 2*len(j.execs)+2 {
		return fmt.Errorf("the module could not be started again for the input of a lost gateway: %w", j.startErr)
	}
	var live []*gateway.Gateway
	seen := map[*gateway.Gateway]bool{}
	for _, e := range j.execs {
		select {
		case <-e.gw.Done():
			continue
		default:
		}
		if !j.lost[e.gw] && !seen[e.gw] {
			seen[e.gw] = true
			live = append(live, e.gw)
		}
	}
	if len(live) == 0 {
		return errors.New("every gateway was lost; the input could not be dealt again")
	}
	for i, gw := range live {
		if i > len(j.queue) { // the pending chunk and the queue
			break
		}
		j.starting++
		id := fmt.Sprintf("%s#%d", gw.ID(), j.runsOn(gw)+1)
		j.wg.Go(func() {
			e, err := j.start(ctx, gw, id)
			select {
			case j.events <- event{e: e, err: err, started: true}:
			case <-ctx.Done():
				if e != nil {
					e.ch.Close()
				}
			}
		})
	}
	return nil
}

// runsOn is how many executions gw has had.
func (j *job) runsOn(gw *gateway.Gateway) int {
	n := 0
	for _, e := range j.execs {
		if e.gw == gw {
			n++
		}
	}
	return n
}

// takesInput says whether an execution still takes input.
func (j *job) takesInput() bool {
	for _, e := range j.execs {
		if !e.ended && e.inOpen && !e.dead.Load() {
			return true
		}
	}
	return false
}

// endInput gives every execution still taking input its end.
func (j *job) endInput() {
	for _, e := range j.execs {
		if e.inOpen {
			e.inOpen = false
			close(e.in)
		}
	}
}

// done says whether every execution has ended and none is starting.
func (j *job) done() bool {
	if j.starting > 0 {
		return false
	}
	for _, e := range j.execs {
		if !e.ended {
			return false
		}
	}
	return true
}

// handle takes one event.
func (j *job) handle(ctx context.Context, ev event) error {
	e := ev.e
	switch {
	case ev.started:
		j.starting--
		if ev.err != nil {
			// That gateway is going too; startMore tries the others.
			j.startFailed++
			j.startErr = ev.err
			return nil
		}
		j.add(ctx, e)
		return nil
	case ev.end:
		j.end(e, ev.err)
		return j.redeal(e)
	}
	j.r.mu.Lock()
	defer j.r.mu.Unlock()
	s := e.stats
	s.items++
	if j.r.flags.merge {
		if err := e.merged.add(ev.v); err != nil && s.err == nil {
			s.err = fmt.Errorf("--merge: %w", err)
		}
	} else if err := printItem(j.r.stdout, s.id, ev.v, j.r.flags.asJSON); err != nil {
		return fmt.Errorf("run: output: %w", err)
	}
	if j.r.flags.take > 0 && s.items == j.r.flags.take && !e.closedByUs {
		e.closedByUs = true
		e.ch.Close()
	}
	return nil
}

// end notes how e ended: cleanly (its maps join the result), lost with its
// gateway, or failed.
func (j *job) end(e *execution, err error) {
	e.ended = true
	if e.inOpen {
		e.inOpen = false
		close(e.in)
	}
	j.r.mu.Lock()
	defer j.r.mu.Unlock()
	s := e.stats
	s.end = time.Now()
	switch {
	case err == io.EOF, e.closedByUs && errors.Is(err, channel.ErrClosed):
		if s.err == nil {
			if err := j.r.merge.addCounts(e.merged); err != nil {
				s.err = fmt.Errorf("--merge: %w", err)
			}
		}
	case e.sendErr != nil:
		s.err = e.sendErr
	case errors.Is(err, io.EOF) || isGone(e.gw):
		// Not io.EOF itself but wrapping it: the connection was lost.
		j.lost[e.gw] = true
		s.lost = true
		if s.err == nil {
			s.err = err
		}
	default:
		if s.err == nil {
			s.err = err
		}
	}
}

// redeal queues the chunks of e again if its gateway was lost.
func (j *job) redeal(e *execution) error {
	if !e.stats.lost || !j.input {
		return nil
	}
	for _, c := range e.dealt {
		c.lost++
		if c.lost > j.retries {
			return fmt.Errorf("input %s at byte %d was lost with %d gateways (--retries %d)", c.file, c.off, c.lost, j.retries)
		}
	}
	j.r.mu.Lock()
	e.stats.redealt = len(e.dealt)
	j.r.mu.Unlock()
	j.queue = append(j.queue, e.dealt...)
	e.dealt = nil
	return nil
}

// isGone says whether gw's agent has ended.
func isGone(gw *gateway.Gateway) bool {
	select {
	case <-gw.Done():
		return true
	default:
		return false
	}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// chunkSent counts n bytes sent to the guest of s.
func (r *runState) chunkSent(s *gatewayStats, n int, prog *progress) {
	r.mu.Lock()
	s.sentBytes += int64(n)
	r.mu.Unlock()
	prog.chunkSent(n)
}
