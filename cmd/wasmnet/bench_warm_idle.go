package main

import (
	"context"
	"fmt"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
)

// warm-rss-idle: what a resident agent keeps once it has served many
// modules many times and gone idle (issue 21: "a resident agent that ran 10
// modules 1,000 times each returns to <= 24 MiB RSS after it idles").

const warmIdleRuns = 1000

var goalWarmIdle = &goal{text: "<= 24 MiB", bound: 24}

// A warmJob is one module and the items an execution of it is sent; each
// execution half-closes after them, takes one answer and ends.
type warmJob struct {
	module string
	send   []any
}

var warmJobs = []warmJob{
	{"echo", []any{1}},
	{"echo-reactor", []any{1}},
	{"echo-c", []any{1}},
	{"echo-rust", []any{1}},
	{starlarkEcho, []any{1}},
	{"primes-reactor", []any{[]any{0, 1000}}},
	{"primes-c", []any{[]any{0, 1000}}},
	{"primes-rust", []any{[]any{0, 1000}}},
	{"wordcount-reactor", []any{"a b a", nil}},
	{"wordcount-c", []any{"a b a", nil}},
}

func warmIdleProbe() probe {
	return probe{figures: []figure{{key: "warm-rss-idle",
		name: fmt.Sprintf("resident agent RSS, idle after %d modules x %d executions", len(warmJobs), warmIdleRuns),
		unit: "MiB", limit: "raw-rss", goal: goalWarmIdle}},
		trials: 1, run: (*bench).warmRSSIdle}
}

// warmAfterIdleProbe measures what the idle release costs the next start:
// warm-go-r on a resident agent that gave its memory back since it last ran
// the module.
func warmAfterIdleProbe() probe {
	return probe{figures: []figure{{key: "warm-go-r-idle",
		name: "new gateway to a resident agent idle since it ran the module, start to first item, Go echo reactor",
		unit: "ms", limit: "raw-spawn", goal: goalWarm}},
		run: func(b *bench) ([]float64, error) { return b.warmStartAfterIdle("echo-reactor") }}
}

func (b *bench) warmStartAfterIdle(name string) ([]float64, error) {
	// Past the agent's idle release (250 ms without executions).
	return b.warmStartAfter(name, time.Second)
}

func (b *bench) warmRSSIdle() ([]float64, error) {
	gw, err := b.makeWarm(b.ctx)
	if err != nil {
		return nil, err
	}
	defer gw.Exit(context.Background())
	for _, job := range warmJobs {
		m, err := b.module(job.module)
		if err != nil {
			return nil, err
		}
		for range warmIdleRuns {
			if err := runWarmJob(b.ctx, gw, m, job); err != nil {
				return nil, fmt.Errorf("%s: %w", job.module, err)
			}
		}
	}
	// Past the agent's idle release (250 ms without executions).
	time.Sleep(time.Second)
	rss, err := settledRSS(b.ctx, gw)
	return []float64{mib(rss)}, err
}

func runWarmJob(ctx context.Context, gw *gateway.Gateway, m gateway.Module, job warmJob) error {
	ch, err := gw.RemoteExec(ctx, m)
	if err != nil {
		return err
	}
	defer ch.Close()
	for _, v := range job.send {
		if err := ch.Send(v); err != nil {
			return err
		}
	}
	if err := ch.CloseSend(); err != nil {
		return err
	}
	if _, err := ch.Receive(ctx); err != nil {
		return err
	}
	return ch.WaitClose(ctx)
}
