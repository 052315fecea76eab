package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
)

// The price of stoppable guests: the compute kernels under each way of
// making a guest stoppable, each on an agent of its own started with the
// hidden --bench-stop flag, against the same kernels unchecked; and what a
// spinning guest costs the other channels of its agent.

const (
	wordcountBytes = 16 << 20
	echoBigBytes   = 2 << 20
	goalStopCost   = 1.25
)

var (
	goalStop      = &goal{text: fmt.Sprintf("<= %.2fx unchecked", goalStopCost), ratio: true, bound: goalStopCost}
	goalSpinEcho  = &goal{text: "<= 50 ms", bound: 50}
	goalSpinClose = &goal{text: "<= 100 ms", bound: 100}
)

// stopMechanisms are the --bench-stop values, with the key suffix of
// their figures.
var stopMechanisms = []struct{ flag, suffix, name string }{
	{"none", "unchecked", "unchecked (cannot be stopped)"},
	{"instrument", "instrumented", "instrumented (the default)"},
	{"context-checks", "ctxchecks", "wazero's WithCloseOnContextDone"},
}

// A stopKernel is one compute kernel the price of being stoppable is
// measured on: every guest language on the two kernels of the main job,
// except under wazero's context checks, which are measured on three for
// comparison, as they cost several times more.
type stopKernel struct {
	key     string
	module  string
	primes  bool // the primes kernel; else the word count
	checked bool // also measured under wazero's context checks
}

var stopKernels = []stopKernel{
	{"primes-c", "primes-c", true, true},
	{"wordcount-c", "wordcount-c", false, true},
	{"primes-go", "primes", true, true},
	{"wordcount-go", "wordcount", false, false},
	{"primes-rust", "primes-rust", true, false},
	{"wordcount-rust", "wordcount-rust", false, false},
}

func stopProbes() []probe {
	var probes []probe
	for _, m := range stopMechanisms {
		var figs []figure
		var kernels []stopKernel
		for _, k := range stopKernels {
			if m.flag == "context-checks" && !k.checked {
				continue
			}
			kernels = append(kernels, k)
			f := figure{key: "stop-" + k.key + "-" + m.suffix, name: k.key + ", " + m.name, unit: "ms"}
			if m.flag != "none" {
				f.limit = "stop-" + k.key + "-unchecked"
			}
			if m.flag == "instrument" {
				f.goal = goalStop
			}
			figs = append(figs, f)
		}
		probes = append(probes, probe{figures: figs, run: func(b *bench) ([]float64, error) { return b.stopCost(m.flag, kernels) }})
	}
	probes = append(probes, probe{figures: []figure{
		{key: "echo-2m", name: "2 MiB echo, no other guest running", unit: "ms"},
		{key: "spin-echo", name: "2 MiB echo while another guest spins", unit: "ms", limit: "echo-2m", goal: goalSpinEcho},
		{key: "spin-close", name: "Channel.Close until a spinning guest ended", unit: "ms", goal: goalSpinClose},
	}, run: (*bench).spin})
	return probes
}

// stopCost runs kernels on a fresh agent using mechanism flag.
func (b *bench) stopCost(flag string, kernels []stopKernel) ([]float64, error) {
	gw, err := gateway.Make(b.ctx, "exec="+b.opts.agent+" agent --bench-stop="+flag, gateway.WithOutput(b.log))
	if err != nil {
		return nil, err
	}
	defer gw.Exit(context.Background())
	c, err := b.wordcountCorpus()
	if err != nil {
		return nil, err
	}
	var out []float64
	for _, k := range kernels {
		var ms float64
		if k.primes {
			ms, err = b.primesOn(gw, k.module)
		} else {
			ms, err = b.wordcountIn(gw, k.module, c.path, -1, c.counts, 1<<20)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ms)
	}
	return out, nil
}

// primesOn counts the primes of [primesLow, primesHigh] in guest name on gw.
func (b *bench) primesOn(gw *gateway.Gateway, name string) (float64, error) {
	ch, err := b.warmExec(gw, name)
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	start := time.Now()
	if err := ch.Send([]any{primesLow, primesHigh}); err != nil {
		return 0, err
	}
	got, err := ch.Receive(b.ctx)
	if err != nil {
		return 0, err
	}
	if got != int64(primesExpect) {
		return 0, fmt.Errorf("%s: counted %v primes, want %d", name, got, primesExpect)
	}
	return millis(time.Since(start)), nil
}

// wordcountIn counts the words of the first limit bytes of the file at
// path (all of it for limit < 0) in guest name on gw, sent in chunks of
// chunk bytes, and checks every count against want, internal/wordcount's.
func (b *bench) wordcountIn(gw *gateway.Gateway, name, path string, limit int64, want map[string]int64, chunk int) (float64, error) {
	ch, err := b.warmExec(gw, name)
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	start := time.Now()
	if err := sendFile(ch, path, limit, chunk); err != nil {
		return 0, err
	}
	if err := ch.Send(nil); err != nil {
		return 0, err
	}
	got, err := ch.Receive(b.ctx)
	if err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if err := sameCounts(got, want); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return millis(elapsed), nil
}

// sameCounts checks a guest's answer, a map of words to counts, against
// the reference counts.
func sameCounts(got any, want map[string]int64) error {
	m, ok := got.(map[string]any)
	if !ok || len(m) != len(want) {
		return fmt.Errorf("got %T with %d words, want %d words", got, lenMap(got), len(want))
	}
	for w, n := range want {
		if v, ok := m[w].(int64); !ok || v != n {
			return fmt.Errorf("counted %v of %q, want %d", m[w], w, n)
		}
	}
	return nil
}

func lenMap(v any) int {
	m, _ := v.(map[string]any)
	return len(m)
}

// spin measures, on the live agent, a 2 MiB echo through the C echo guest
// while the spin guest computes, then how long after its Channel.Close
// the spinning execution has ended.
func (b *bench) spin() ([]float64, error) {
	gw, err := b.liveGateway()
	if err != nil {
		return nil, err
	}
	echo, err := b.warm(gw, "echo-c")
	if err != nil {
		return nil, err
	}
	spinner, err := b.warm(gw, "spin")
	if err != nil {
		return nil, err
	}
	if err := b.waitIdle(gw); err != nil {
		return nil, err
	}
	// The same echoes without the spinner are the limit: what the echo
	// costs on this machine at this moment.
	big := bytes.Repeat([]byte{0x5a}, echoBigBytes)
	alone, err := b.worstBigEcho(gw, echo, big)
	if err != nil {
		return nil, err
	}
	spinCh, err := gw.RemoteExec(b.ctx, spinner)
	if err != nil {
		return nil, err
	}
	defer spinCh.Close()
	// The spinner sends "started" as it begins to compute.
	if v, err := spinCh.Receive(b.ctx); err != nil || v != "started" {
		return nil, fmt.Errorf("spin: first item %v, %v; want \"started\"", v, err)
	}
	beside, err := b.worstBigEcho(gw, echo, big)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	spinCh.Close()
	if err := b.waitIdle(gw); err != nil {
		return nil, err
	}
	return []float64{millis(alone), millis(beside), millis(time.Since(start))}, nil
}

// worstBigEcho runs a fresh execution of echo and returns the slowest of
// five round trips of big through it.
func (b *bench) worstBigEcho(gw *gateway.Gateway, echo gateway.Module, big []byte) (time.Duration, error) {
	ch, err := gw.RemoteExec(b.ctx, echo)
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	var worst time.Duration
	for range 5 {
		start := time.Now()
		if err := ch.Send(big); err != nil {
			return 0, err
		}
		got, err := ch.Receive(b.ctx)
		if err != nil {
			return 0, err
		}
		if g, _ := got.([]byte); !bytes.Equal(g, big) {
			return 0, errors.New("spin-echo: the echo differs")
		}
		worst = max(worst, time.Since(start))
	}
	return worst, nil
}

// waitIdle waits until the agent runs no execution, for at most 10 s.
func (b *bench) waitIdle(gw *gateway.Gateway) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := gw.RemoteStatus(b.ctx)
		if err != nil {
			return err
		}
		if st.Executing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still %d executions after 10 s", st.Executing)
		}
		time.Sleep(time.Millisecond)
	}
}
