package main

import (
	"context"
	"fmt"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
)

// The warm-host figures (issue 21): gateways served by the user's resident
// agent of this build, which ran the module before.

// warmSpec is the spec of the warm figures' gateways: the resident agent
// they start idles out a minute after the bench.
const warmSpec = "popen//resident=1m"

// warmIdleGateways is how many idle gateways warm-rss-per-gw adds.
const warmIdleGateways = 16

var (
	goalWarm      = &goal{text: "<= 5 ms", bound: 5}
	goalWarmFan16 = &goal{text: "<= 50 ms", bound: 50}
	goalWarmFan64 = &goal{text: "<= 200 ms", bound: 200}
	goalWarmRSS   = &goal{text: "<= 2 MiB", bound: 2}
)

func warmProbes() []probe {
	return []probe{
		{figures: []figure{{key: "warm-go-r", name: "new gateway to a warm resident agent, start to first item, Go echo reactor", unit: "ms", limit: "raw-spawn", goal: goalWarm}},
			run: func(b *bench) ([]float64, error) { return b.warmStart("echo-reactor") }},
		{figures: []figure{{key: "warm-go", name: "new gateway to a warm resident agent, start to first item, Go echo", unit: "ms", limit: "raw-spawn", goal: goalWarm}},
			run: func(b *bench) ([]float64, error) { return b.warmStart("echo") }},
		{figures: []figure{{key: "warm-c", name: "new gateway to a warm resident agent, start to first item, C echo", unit: "ms", limit: "raw-spawn", goal: goalWarm}},
			run: func(b *bench) ([]float64, error) { return b.warmStart("echo-c") }},
		{figures: []figure{{key: "warm-star", name: "new gateway to a warm resident agent, start to first item, Starlark echo", unit: "ms", limit: "raw-spawn", goal: goalWarm}},
			run: func(b *bench) ([]float64, error) { return b.warmStart(starlarkEcho) }},
		{figures: []figure{{key: "warm-rust", name: "new gateway to a warm resident agent, start to first item, Rust echo", unit: "ms", limit: "raw-spawn", goal: goalWarm}},
			run: func(b *bench) ([]float64, error) { return b.warmStart("echo-rust") }},
		{figures: []figure{{key: "warm-fanout16-go", name: "16 resident gateways: create+exec+collect, Go echo reactor", unit: "ms", limit: "raw-fanout16", goal: goalWarmFan16}},
			run: func(b *bench) ([]float64, error) { return b.warmFanout(16, "echo-reactor") }},
		{figures: []figure{{key: "warm-fanout64-go", name: "64 resident gateways: create+exec+collect, Go echo reactor", unit: "ms", limit: "raw-fanout64", goal: goalWarmFan64}},
			trials: 3, run: func(b *bench) ([]float64, error) { return b.warmFanout(64, "echo-reactor") }},
		{figures: []figure{{key: "warm-rss-per-gw", name: fmt.Sprintf("resident agent RSS growth per idle gateway (%d more)", warmIdleGateways), unit: "MiB", goal: goalWarmRSS}},
			run: (*bench).warmRSSPerGateway},
		warmIdleProbe(),
		warmAfterIdleProbe(),
	}
}

// makeWarm makes a gateway on the resident agent, starting it if need be.
func (b *bench) makeWarm(ctx context.Context) (*gateway.Gateway, error) {
	return gateway.Make(ctx, warmSpec, gateway.WithAgentPath(b.opts.agent), gateway.WithOutput(b.log))
}

// warmResident has the resident agent run module name once, so that the
// figures after it measure a warm host.
func (b *bench) warmResident(name string) (gateway.Module, error) {
	m, err := b.module(name)
	if err != nil {
		return m, err
	}
	gw, err := b.makeWarm(b.ctx)
	if err != nil {
		return m, err
	}
	defer gw.Exit(context.Background())
	ch, err := gw.RemoteExec(b.ctx, m)
	if err == nil {
		err = echoOnce(b.ctx, ch, 1)
	}
	return m, err
}

// warmStart measures a new gateway on a warm resident agent up to the
// first item of a guest it ran before.
func (b *bench) warmStart(name string) ([]float64, error) { return b.warmStartAfter(name, 0) }

// warmStartAfter is warmStart after the agent has idled for idle since it
// ran the module.
func (b *bench) warmStartAfter(name string, idle time.Duration) ([]float64, error) {
	m, err := b.warmResident(name)
	if err != nil {
		return nil, err
	}
	time.Sleep(idle)
	gw, d, err := b.firstItem(b.makeWarm, m)
	if gw != nil {
		defer gw.Exit(context.Background())
	}
	if err != nil {
		return nil, err
	}
	return []float64{millis(d)}, nil
}

// warmFanout is fanout on the resident agent: n gateways made as a
// Group, an echo on each, one item collected from each.
func (b *bench) warmFanout(n int, name string) ([]float64, error) {
	m, err := b.warmResident(name)
	if err != nil {
		return nil, err
	}
	g, d, err := b.fanoutGroup(fmt.Sprintf("%d*%s", n, warmSpec), m)
	defer g.Terminate(5 * time.Second)
	if err != nil {
		return nil, err
	}
	return []float64{millis(d)}, nil
}

// warmRSSPerGateway reads the resident agent's RSS with one gateway, then
// with warmIdleGateways more that did nothing but connect, and returns
// the growth per gateway.
func (b *bench) warmRSSPerGateway() ([]float64, error) {
	if _, err := b.warmResident("echo-reactor"); err != nil {
		return nil, err
	}
	g := gateway.NewGroup(gateway.WithGatewayOptions(gateway.WithAgentPath(b.opts.agent), gateway.WithOutput(b.log)))
	defer g.Terminate(5 * time.Second)
	gws, err := g.MakeGateways(b.ctx, warmSpec)
	if err != nil {
		return nil, err
	}
	before, err := settledRSS(b.ctx, gws[0])
	if err != nil {
		return nil, err
	}
	if _, err := g.MakeGateways(b.ctx, fmt.Sprintf("%d*%s", warmIdleGateways, warmSpec)); err != nil {
		return nil, err
	}
	after, err := settledRSS(b.ctx, gws[0])
	if err != nil {
		return nil, err
	}
	return []float64{mib(after-before) / warmIdleGateways}, nil
}

// settledRSS reads the agent's RSS once it has been idle long enough to
// give freed memory back (250 ms).
func settledRSS(ctx context.Context, gw *gateway.Gateway) (int64, error) {
	if _, err := idleStatus(ctx, gw); err != nil {
		return 0, err
	}
	time.Sleep(500 * time.Millisecond)
	st, err := gw.RemoteStatus(ctx)
	return st.RSS, err
}
