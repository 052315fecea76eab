package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/gateway"
)

// The wasmnet figures. Guests: echo (C and Go) for starts and round trips,
// flood (C and Go) for message rates and bulk, primes for compute.

const (
	execsPerTrial = 50
	roundTrips    = 5000
	floodItems    = 300_000
	fanoutTimeout = 30 * time.Second
)

var (
	goalPopen  = &goal{text: "<= 10 ms", bound: 10}
	goalExec   = &goal{text: "<= 100 µs", bound: 100}
	goalRTT    = &goal{text: "<= 1.5x raw", ratio: true, bound: 1.5}
	goalRate   = &goal{text: ">= 1000000/s", bound: 1e6}
	goalBulk   = &goal{text: ">= 0.75x raw", ratio: true, bound: 0.75}
	goalFan16  = &goal{text: "<= 100 ms", bound: 100}
	goalFan64  = &goal{text: "<= 400 ms", bound: 400}
	goalRSS    = &goal{text: "<= 12 MiB", bound: 12}
	goalPrimes = &goal{text: "<= 1.5x native", ratio: true, bound: 1.5}

	// Goals for Go guests, built as reactors (make examples builds
	// <name>-reactor.wasm): from the issue "Go guests as fast as C guests".
	goalPopenGo  = &goal{text: "<= 15 ms", bound: 15}
	goalExecGo   = &goal{text: "<= 150 µs, <= 2x C", bound: 150, maxRatio: 2}
	goalBulkGo   = &goal{text: ">= 0.60x raw", ratio: true, bound: 0.6}
	goalRSSGo    = &goal{text: "<= 16 MiB", bound: 16}
	goalClientGo = &goal{text: "<= 40 MiB", bound: 40}

	// From issue 15: starting source costs about what a C guest costs.
	goalExecStar = &goal{text: "<= 1.5x C", ratio: true, bound: 1.5}
)

// rssExecs is how many Go executions the agent of rss-go runs first.
const rssExecs = 200

func gatewayProbes() []probe {
	return []probe{
		{figures: []figure{
			{key: "popen-c", name: "popen start to first item, C echo", unit: "ms", limit: "raw-spawn", goal: goalPopen},
			{key: "exit", name: "Exit until the agent is reaped", unit: "ms", limit: "raw-exit"},
		}, run: func(b *bench) ([]float64, error) { return b.popen("echo-c", true) }},
		{figures: []figure{
			{key: "popen-go", name: "popen start to first item, Go echo", unit: "ms", limit: "raw-spawn"},
		}, run: func(b *bench) ([]float64, error) { return b.popen("echo", false) }},
		{figures: []figure{
			{key: "popen-go-r", name: "popen start to first item, Go echo reactor", unit: "ms", limit: "raw-spawn", goal: goalPopenGo},
		}, run: func(b *bench) ([]float64, error) { return b.popen("echo-reactor", false) }},
		{figures: []figure{
			{key: "popen-rust", name: "popen start to first item, Rust echo", unit: "ms", limit: "raw-spawn"},
		}, run: func(b *bench) ([]float64, error) { return b.popen("echo-rust", false) }},
		{figures: []figure{
			{key: "popen-star", name: "popen start to first item, Starlark echo (source)", unit: "ms", limit: "raw-spawn"},
		}, run: func(b *bench) ([]float64, error) { return b.popen(starlarkEcho, false) }},
		{figures: []figure{{key: "exec-c", name: "RemoteExec to first item, cached, C echo", unit: "µs", limit: "raw-rtt", goal: goalExec}},
			run: func(b *bench) ([]float64, error) { return b.exec("echo-c") }},
		{figures: []figure{{key: "exec-go", name: "RemoteExec to first item, cached, Go echo", unit: "µs", limit: "raw-rtt"}},
			run: func(b *bench) ([]float64, error) { return b.exec("echo") }},
		{figures: []figure{{key: "exec-go-r", name: "RemoteExec to first item, cached, Go echo reactor", unit: "µs", limit: "exec-c", goal: goalExecGo}},
			run: func(b *bench) ([]float64, error) { return b.exec("echo-reactor") }},
		{figures: []figure{{key: "exec-star", name: "RemoteExec to first item, cached, Starlark echo (source)", unit: "µs", limit: "exec-c", goal: goalExecStar}},
			run: func(b *bench) ([]float64, error) { return b.exec(starlarkEcho) }},
		{figures: []figure{{key: "exec-rust", name: "RemoteExec to first item, cached, Rust echo", unit: "µs", limit: "exec-c"}},
			run: func(b *bench) ([]float64, error) { return b.exec("echo-rust") }},
		{figures: []figure{{key: "rtt-c", name: "round trip client-guest-client, C echo", unit: "µs", limit: "raw-rtt", goal: goalRTT}},
			run: func(b *bench) ([]float64, error) { return b.roundTrip("echo-c") }},
		{figures: []figure{{key: "rtt-go", name: "round trip client-guest-client, Go echo", unit: "µs", limit: "raw-rtt"}},
			run: func(b *bench) ([]float64, error) { return b.roundTrip("echo") }},
		{figures: []figure{{key: "rtt-rust", name: "round trip client-guest-client, Rust echo", unit: "µs", limit: "raw-rtt"}},
			run: func(b *bench) ([]float64, error) { return b.roundTrip("echo-rust") }},
		{figures: []figure{{key: "flood-out-c", name: "small messages guest to client, C flood", unit: "msg/s", higher: true, goal: goalRate}},
			run: func(b *bench) ([]float64, error) { return b.floodOut("flood-c") }},
		{figures: []figure{{key: "flood-out-go", name: "small messages guest to client, Go flood", unit: "msg/s", higher: true}},
			run: func(b *bench) ([]float64, error) { return b.floodOut("flood") }},
		{figures: []figure{{key: "flood-out-rust", name: "small messages guest to client, Rust flood", unit: "msg/s", higher: true}},
			run: func(b *bench) ([]float64, error) { return b.floodOut("flood-rust") }},
		{figures: []figure{{key: "flood-in-c", name: "small messages client to guest, C flood", unit: "msg/s", higher: true, goal: goalRate}},
			run: func(b *bench) ([]float64, error) { return b.floodIn("flood-c") }},
		{figures: []figure{{key: "flood-in-go", name: "small messages client to guest, Go flood", unit: "msg/s", higher: true}},
			run: func(b *bench) ([]float64, error) { return b.floodIn("flood") }},
		{figures: []figure{{key: "flood-in-rust", name: "small messages client to guest, Rust flood", unit: "msg/s", higher: true}},
			run: func(b *bench) ([]float64, error) { return b.floodIn("flood-rust") }},
		{figures: []figure{{key: "bulk-c", name: "bulk 1 MiB items client to guest, C flood", unit: "MB/s", higher: true, limit: "raw-bw", goal: goalBulk}},
			run: func(b *bench) ([]float64, error) { return b.bulk("flood-c") }},
		{figures: []figure{{key: "bulk-go", name: "bulk 1 MiB items client to guest, Go flood", unit: "MB/s", higher: true, limit: "raw-bw"}},
			run: func(b *bench) ([]float64, error) { return b.bulk("flood") }},
		{figures: []figure{{key: "bulk-go-r", name: "bulk 1 MiB items client to guest, Go flood reactor", unit: "MB/s", higher: true, limit: "raw-bw", goal: goalBulkGo}},
			run: func(b *bench) ([]float64, error) { return b.bulk("flood-reactor") }},
		{figures: []figure{{key: "bulk-rust", name: "bulk 1 MiB items client to guest, Rust flood", unit: "MB/s", higher: true, limit: "raw-bw"}},
			run: func(b *bench) ([]float64, error) { return b.bulk("flood-rust") }},
		{figures: []figure{
			{key: "fanout16", name: "16 popen gateways: create+exec+collect", unit: "ms", limit: "raw-fanout16", goal: goalFan16},
			{key: "fanout16-term", name: "16 popen gateways: Terminate", unit: "ms"},
		}, run: func(b *bench) ([]float64, error) { return b.fanout("16*popen", "echo-c") }},
		{figures: []figure{
			{key: "fanout16-go", name: "16 popen gateways: create+exec+collect, Go echo reactor", unit: "ms", limit: "raw-fanout16", goal: goalFan16},
			{key: "fanout16-go-term", name: "16 popen gateways: Terminate", unit: "ms"},
		}, run: func(b *bench) ([]float64, error) { return b.fanout("16*popen", "echo-reactor") }},
		{figures: []figure{
			{key: "fanout16-go-own", name: "16 popen gateways, a process each (share=no): create+exec+collect, Go echo reactor", unit: "ms", limit: "raw-fanout16"},
			{key: "fanout16-go-own-term", name: "16 popen gateways, a process each: Terminate", unit: "ms"},
		}, run: func(b *bench) ([]float64, error) { return b.fanout("16*popen//share=no", "echo-reactor") }},
		{figures: []figure{
			{key: "fanout64", name: "64 popen gateways: create+exec+collect", unit: "ms", limit: "raw-fanout64", goal: goalFan64},
			{key: "fanout64-term", name: "64 popen gateways: Terminate", unit: "ms"},
		}, trials: 3, run: func(b *bench) ([]float64, error) { return b.fanout("64*popen", "echo-c") }},
		{figures: []figure{
			{key: "fanout64-go", name: "64 popen gateways: create+exec+collect, Go echo reactor", unit: "ms", limit: "raw-fanout64", goal: goalFan64},
			{key: "fanout64-go-term", name: "64 popen gateways: Terminate", unit: "ms"},
		}, trials: 3, run: func(b *bench) ([]float64, error) { return b.fanout("64*popen", "echo-reactor") }},
		{figures: []figure{
			{key: "rss", name: "idle agent RSS", unit: "MiB", limit: "raw-rss", goal: goalRSS},
			{key: "rss-after-exec", name: "idle agent RSS after one C echo exec", unit: "MiB", limit: "raw-rss"},
		}, run: (*bench).idleRSS},
		{figures: []figure{
			{key: "rss-go", name: fmt.Sprintf("idle agent RSS after %d Go echo reactor execs", rssExecs), unit: "MiB", limit: "raw-rss", goal: goalRSSGo},
		}, run: (*bench).idleRSSGo},
		{figures: []figure{{key: "primes-c", name: "primes kernel in the C guest", unit: "ms", limit: "native-primes", goal: goalPrimes}},
			run: func(b *bench) ([]float64, error) { return b.guestPrimes("primes-c") }},
		{figures: []figure{{key: "primes-go", name: "primes kernel in the Go guest", unit: "ms", limit: "native-primes"}},
			run: func(b *bench) ([]float64, error) { return b.guestPrimes("primes") }},
		{figures: []figure{{key: "primes-go-r", name: "primes kernel in the Go guest reactor", unit: "ms", limit: "native-primes"}},
			run: func(b *bench) ([]float64, error) { return b.guestPrimes("primes-reactor") }},
		{figures: []figure{{key: "primes-rust", name: "primes kernel in the Rust guest", unit: "ms", limit: "native-primes"}},
			run: func(b *bench) ([]float64, error) { return b.guestPrimes("primes-rust") }},
	}
}

func (b *bench) makeGateway(ctx context.Context) (*gateway.Gateway, error) {
	return gateway.Make(ctx, "popen", gateway.WithAgentPath(b.opts.agent), gateway.WithOutput(b.log))
}

// liveGateway returns the gateway shared by the figures measured on a
// running agent, made on first use.
func (b *bench) liveGateway() (*gateway.Gateway, error) {
	if b.live != nil {
		return b.live, nil
	}
	gw, err := b.makeGateway(b.ctx)
	if err != nil {
		return nil, err
	}
	b.live = gw
	return gw, nil
}

func (b *bench) closeLive() {
	if b.live != nil {
		b.live.Exit(context.Background())
		b.live = nil
	}
}

// warm makes sure the agent has module name compiled (and the disk cache
// has it), so that what follows measures a cached module.
func (b *bench) warm(gw *gateway.Gateway, name string) (gateway.Module, error) {
	m, err := b.module(name)
	if err != nil {
		return m, err
	}
	ch, err := gw.RemoteExec(b.ctx, m)
	if err != nil {
		return m, err
	}
	ch.Close()
	return m, nil
}

// warmOnLive warms module name on the live gateway, so that a new agent
// finds its compiled code in the disk cache.
func (b *bench) warmOnLive(name string) (gateway.Module, error) {
	live, err := b.liveGateway()
	if err != nil {
		return gateway.Module{}, err
	}
	return b.warm(live, name)
}

// echoOnce sends one small integer and waits for it to come back.
func echoOnce(ctx context.Context, ch *channel.Channel, v int) error {
	if err := ch.Send(v); err != nil {
		return err
	}
	got, err := ch.Receive(ctx)
	if err != nil {
		return err
	}
	if got != int64(v) {
		return fmt.Errorf("echo: sent %d, got %v", v, got)
	}
	return nil
}

// popen measures a new agent process up to the first item from a guest,
// the module's compiled code coming from the disk cache; with exit, also
// Exit until the agent has been reaped.
func (b *bench) popen(name string, exit bool) ([]float64, error) {
	m, err := b.warmOnLive(name)
	if err != nil {
		return nil, err
	}
	gw, first, err := b.firstItem(b.makeGateway, m)
	if gw != nil {
		defer gw.Exit(context.Background())
	}
	if err != nil {
		return nil, err
	}
	if !exit {
		return []float64{millis(first)}, nil
	}
	start := time.Now()
	gw.Exit(context.Background())
	return []float64{millis(first), millis(time.Since(start))}, nil
}

// firstItem makes a gateway with dial and echoes one item through a new
// execution of m on it: the time from the start of dial to that item,
// with the gateway, which the caller exits (nil if none was made).
func (b *bench) firstItem(dial func(context.Context) (*gateway.Gateway, error), m gateway.Module) (*gateway.Gateway, time.Duration, error) {
	start := time.Now()
	gw, err := dial(b.ctx)
	if err != nil {
		return nil, 0, err
	}
	ch, err := gw.RemoteExec(b.ctx, m)
	if err != nil {
		return gw, 0, err
	}
	defer ch.Close()
	if err := echoOnce(b.ctx, ch, 1); err != nil {
		return gw, 0, err
	}
	return gw, time.Since(start), nil
}

// exec measures RemoteExec of a module the agent holds, to the first item.
func (b *bench) exec(name string) ([]float64, error) {
	gw, err := b.liveGateway()
	if err != nil {
		return nil, err
	}
	m, err := b.warm(gw, name)
	if err != nil {
		return nil, err
	}
	one := func() (time.Duration, error) {
		start := time.Now()
		ch, err := gw.RemoteExec(b.ctx, m)
		if err != nil {
			return 0, err
		}
		defer ch.Close()
		err = echoOnce(b.ctx, ch, 1)
		return time.Since(start), err
	}
	var total time.Duration
	for i := range execsPerTrial + 3 {
		d, err := one()
		if err != nil {
			return nil, err
		}
		if i >= 3 {
			total += d
		}
	}
	return []float64{micros(total) / execsPerTrial}, nil
}

// liveExec runs the guest name, compiled beforehand, on the live gateway.
func (b *bench) liveExec(name string) (*channel.Channel, error) {
	gw, err := b.liveGateway()
	if err != nil {
		return nil, err
	}
	return b.warmExec(gw, name)
}

// warmExec runs the guest name on gw, compiled there beforehand.
func (b *bench) warmExec(gw *gateway.Gateway, name string) (*channel.Channel, error) {
	m, err := b.warm(gw, name)
	if err != nil {
		return nil, err
	}
	return gw.RemoteExec(b.ctx, m)
}

// roundTrip measures one small integer to an echo guest and back.
func (b *bench) roundTrip(name string) ([]float64, error) {
	ch, err := b.liveExec(name)
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	for i := range 200 {
		if err := echoOnce(b.ctx, ch, i&127); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	for i := range roundTrips {
		if err := echoOnce(b.ctx, ch, i&127); err != nil {
			return nil, err
		}
	}
	return []float64{micros(time.Since(start)) / roundTrips}, nil
}

// floodOut asks a flood guest for floodItems small integers and receives
// them all.
func (b *bench) floodOut(name string) ([]float64, error) {
	ch, err := b.liveExec(name)
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	if err := echoFlood(b.ctx, ch, 1000); err != nil { // warm up
		return nil, err
	}
	start := time.Now()
	if err := echoFlood(b.ctx, ch, floodItems); err != nil {
		return nil, err
	}
	return []float64{floodItems / time.Since(start).Seconds()}, nil
}

func echoFlood(ctx context.Context, ch *channel.Channel, n int) error {
	if err := ch.Send(n); err != nil {
		return err
	}
	for i := range n {
		v, err := ch.Receive(ctx)
		if err != nil {
			return err
		}
		if v != int64(i&127) {
			return fmt.Errorf("flood: item %d is %v, want %d", i, v, i&127)
		}
	}
	return nil
}

// sinkItems sends items to a flood guest's sink and checks its count.
func sinkItems(ctx context.Context, ch *channel.Channel, n int, item any, size int) error {
	if err := ch.Send("sink"); err != nil {
		return err
	}
	for range n {
		if err := ch.Send(item); err != nil {
			return err
		}
	}
	if err := ch.Send(nil); err != nil {
		return err
	}
	got, err := ch.Receive(ctx)
	if err != nil {
		return err
	}
	want := []any{int64(n), int64(n * size)}
	if a, ok := got.([]any); !ok || len(a) != 2 || a[0] != want[0] || a[1] != want[1] {
		return fmt.Errorf("flood sink: got %v, want %v", got, want)
	}
	return nil
}

func (b *bench) floodIn(name string) ([]float64, error) {
	ch, err := b.liveExec(name)
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	if err := sinkItems(b.ctx, ch, 1000, 7, 0); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := sinkItems(b.ctx, ch, floodItems, 7, 0); err != nil {
		return nil, err
	}
	return []float64{floodItems / time.Since(start).Seconds()}, nil
}

func (b *bench) bulk(name string) ([]float64, error) {
	ch, err := b.liveExec(name)
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	chunk := make([]byte, bulkChunk)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	if err := sinkItems(b.ctx, ch, 8, chunk, bulkChunk); err != nil {
		return nil, err
	}
	n := bulkTotal / bulkChunk
	start := time.Now()
	if err := sinkItems(b.ctx, ch, n, chunk, bulkChunk); err != nil {
		return nil, err
	}
	return []float64{bulkTotal / time.Since(start).Seconds() / 1e6}, nil
}

// fanout starts the popen gateways of spec as a Group, runs an echo guest
// on all, collects one item from each, and then terminates the group.
func (b *bench) fanout(spec, name string) ([]float64, error) {
	m, err := b.warmOnLive(name)
	if err != nil {
		return nil, err
	}
	g, collected, err := b.fanoutGroup(spec, m)
	defer g.Terminate(5 * time.Second)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := g.Terminate(5 * time.Second); err != nil {
		return nil, err
	}
	return []float64{millis(collected), millis(time.Since(start))}, nil
}

// fanoutGroup makes the gateways of spec as a Group, runs m on every one,
// sends each an item and collects one from each: the time from the start
// to the last item, and the group, which the caller terminates.
func (b *bench) fanoutGroup(spec string, m gateway.Module) (*gateway.Group, time.Duration, error) {
	ctx, cancel := context.WithTimeout(b.ctx, fanoutTimeout)
	defer cancel()
	g := gateway.NewGroup(gateway.WithGatewayOptions(gateway.WithAgentPath(b.opts.agent), gateway.WithOutput(b.log)))
	start := time.Now()
	if _, err := g.MakeGateways(ctx, spec); err != nil {
		return g, 0, err
	}
	mc, err := g.RemoteExec(ctx, m)
	if err != nil {
		return g, 0, err
	}
	if err := mc.SendEach(1); err != nil {
		return g, 0, err
	}
	items, err := mc.ReceiveEach(ctx)
	if err != nil {
		return g, 0, err
	}
	for i, v := range items {
		if v != int64(1) {
			return g, 0, fmt.Errorf("fanout %s: gateway %d sent %v, want 1", spec, i, v)
		}
	}
	return g, time.Since(start), nil
}

// idleRSSGo reads a fresh agent's resident memory after it ran rssExecs
// executions of the Go echo reactor, one at a time.
func (b *bench) idleRSSGo() ([]float64, error) {
	m, err := b.warmOnLive("echo-reactor")
	if err != nil {
		return nil, err
	}
	gw, err := b.makeGateway(b.ctx)
	if err != nil {
		return nil, err
	}
	defer gw.Exit(context.Background())
	for i := range rssExecs {
		ch, err := gw.RemoteExec(b.ctx, m)
		if err == nil {
			err = echoOnce(b.ctx, ch, i&127)
		}
		if err != nil {
			return nil, err
		}
		ch.Close()
		if err := ch.WaitClose(b.ctx); err != nil && err != io.EOF {
			return nil, err
		}
	}
	if _, err := idleStatus(b.ctx, gw); err != nil {
		return nil, err
	}
	// An agent gives freed memory back after 250 ms without executions.
	time.Sleep(500 * time.Millisecond)
	st, err := gw.RemoteStatus(b.ctx)
	if err != nil {
		return nil, err
	}
	return []float64{mib(st.RSS)}, nil
}

// idleStatus waits until gw's agent runs nothing and returns its status.
func idleStatus(ctx context.Context, gw *gateway.Gateway) (gateway.Status, error) {
	var st gateway.Status
	var err error
	for range 1000 { // an execution ends just after its channel closes
		if st, err = gw.RemoteStatus(ctx); err != nil || st.Executing == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return st, err
}

// idleRSS reads a fresh agent's resident memory after its hello, and again
// once it has run the C echo guest to its end.
func (b *bench) idleRSS() ([]float64, error) {
	m, err := b.warmOnLive("echo-c")
	if err != nil {
		return nil, err
	}
	gw, err := b.makeGateway(b.ctx)
	if err != nil {
		return nil, err
	}
	defer gw.Exit(context.Background())
	before, err := gw.RemoteStatus(b.ctx)
	if err != nil {
		return nil, err
	}
	ch, err := gw.RemoteExec(b.ctx, m)
	if err == nil {
		err = echoOnce(b.ctx, ch, 1)
	}
	if err != nil {
		return nil, err
	}
	ch.Close()
	if err := ch.WaitClose(b.ctx); err != nil && err != io.EOF {
		return nil, err
	}
	var after gateway.Status
	for range 100 { // the execution ends just after its channel closes
		if after, err = gw.RemoteStatus(b.ctx); err != nil || after.Executing == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	return []float64{mib(before.RSS), mib(after.RSS)}, nil
}

// guestPrimes runs the primes kernel on the native figure's range in a
// guest on the live agent.
func (b *bench) guestPrimes(name string) ([]float64, error) {
	gw, err := b.liveGateway()
	if err != nil {
		return nil, err
	}
	ms, err := b.primesOn(gw, name)
	return []float64{ms}, err
}
