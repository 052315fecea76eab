package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmnet/wasmnet/gateway"
)

// The bench command measures wasmnet's hot paths and, in the same run, the
// limits this machine sets them: a figure is only meaningful next to what a
// bare pipe or a bare process achieves here. BENCHMARKS.md explains every
// figure.

type benchOptions struct {
	only       []string
	trials     int
	json       bool
	examples   string
	agent      string
	cpuProfile string
	memProfile string
}

// A figure is one line of the table.
type figure struct {
	key    string
	name   string
	unit   string
	higher bool   // higher is better (a rate), else lower (a time)
	limit  string // the key of the raw figure it is compared with, or ""
	goal   *goal
}

// A goal is what a figure should reach, as a value or as a ratio to its limit.
type goal struct {
	text  string
	ratio bool    // the bound applies to value/limit
	bound float64 // an upper bound, or a lower bound for higher-is-better figures
	// maxRatio, if set, also bounds value/limit (a time) when the bound
	// is on the value.
	maxRatio float64
}

// A probe measures one or more figures in one trial: a popen start and the
// Exit that follows, a fan-out and its Terminate.
type probe struct {
	figures []figure
	trials  int // 0: the --trials option
	run     func(b *bench) ([]float64, error)
}

type benchResult struct {
	Key      string    `json:"key"`
	Name     string    `json:"name"`
	Unit     string    `json:"unit"`
	Median   float64   `json:"median"`
	Trials   []float64 `json:"trials"`
	LimitKey string    `json:"limit_key,omitempty"`
	Limit    float64   `json:"limit,omitempty"`
	Ratio    float64   `json:"ratio,omitempty"`
	Goal     string    `json:"goal,omitempty"`
	Met      *bool     `json:"met,omitempty"`
	Error    string    `json:"error,omitempty"`
}

type benchReport struct {
	Machine benchMachine  `json:"machine"`
	Trials  int           `json:"trials"`
	Seconds float64       `json:"seconds"`
	Results []benchResult `json:"results"`
}

func newBenchCommand() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure wasmnet's hot paths against this machine's own limits",
		Long: `bench measures start-up, remote execution, round trips, message rates, bulk
transfer, fan-out, agent memory and guest compute, each as the median of
repeated trials, next to the raw limit measured in the same run (a Go pipe
ping-pong between two processes, pipe bandwidth, a bare process start,
native Go code) and their ratio. Guests come from the examples folder
(make examples builds them). See BENCHMARKS.md for what each figure measures.`,
		Example: `  wasmnet bench
  wasmnet bench --only rtt,flood --trials 9
  wasmnet bench --json > bench.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.cpuProfile != "" {
				stop, err := startCPUProfile(o.cpuProfile)
				if err != nil {
					return fmt.Errorf("bench: %w", err)
				}
				defer stop()
			}
			err := runBench(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
			if o.memProfile != "" {
				err = errors.Join(err, writeAllocsProfile(o.memProfile))
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the client side to this file (agents: $WASMNET_AGENT_CPUPROFILE)")
	f.StringVar(&o.memProfile, "memprofile", "", "write the client side's allocations over the run to this file, for go tool pprof -sample_index=alloc_space")
	f.StringSliceVar(&o.only, "only", nil, "figures to measure: keys or key prefixes (see the table), comma-separated; raw limits they need are measured too")
	f.IntVar(&o.trials, "trials", 5, "trials per figure; the median is reported")
	f.BoolVar(&o.json, "json", false, "print the results as JSON")
	f.StringVar(&o.examples, "examples", "wasm-examples", "folder of the built example guests")
	f.StringVar(&o.agent, "agent", "", "wasmnet binary to run as the agent (default: this executable)")
	cmd.AddCommand(newBenchPartnerCommand(), newBenchNativeCommand())
	return cmd
}

// bench is the state of one run.
type bench struct {
	ctx    context.Context
	opts   benchOptions
	self   string // this executable: agent and raw partner
	log    io.Writer
	done   map[string]benchResult
	live   *gateway.Gateway // a running gateway shared by the figures that need one
	serve  *benchServer     // the server of the serve figures (bench_serve.go)
	probes []probe

	corpus *corpusFile // wordcount's input, made on first use (bench_corpus.go)
}

func runBench(ctx context.Context, stdout, stderr io.Writer, o benchOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.trials < 1 {
		return fmt.Errorf("bench: --trials must be at least 1")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if o.agent == "" {
		o.agent = self
	}
	b := &bench{ctx: ctx, opts: o, self: self, log: stderr, done: map[string]benchResult{}}
	b.probes = append(append(append(rawProbes(), gatewayProbes()...), stopProbes()...), serveProbes()...)
	b.probes = append(append(b.probes, warmProbes()...), computeProbes()...)
	// Last, so that it covers every figure before it.
	b.probes = append(b.probes, probe{figures: []figure{{key: "client-rss", name: "client (this bench) peak RSS over the whole run", unit: "MiB", goal: goalClientGo}},
		trials: 1, run: func(b *bench) ([]float64, error) { return []float64{mib(peakRSS())}, nil }})
	selected, err := b.select_(o.only)
	if err != nil {
		return err
	}
	start := time.Now()
	defer b.closeLive()
	defer b.closeServer()
	defer b.closeCorpus()
	var results []benchResult
	for _, p := range selected {
		for _, r := range b.measure(p) {
			results = append(results, r)
		}
	}
	// Figures that name a limit get it now that every probe has run.
	for i := range results {
		b.compare(&results[i])
	}
	rep := benchReport{Machine: describeMachine(), Trials: o.trials, Seconds: time.Since(start).Seconds(), Results: results}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printBenchTable(stdout, rep)
	return nil
}

// select_ returns the probes that --only names, with the raw probes their
// figures are compared with, raw ones first.
func (b *bench) select_(only []string) ([]probe, error) {
	if len(only) == 0 {
		return b.probes, nil
	}
	want := map[int]bool{}
	for _, name := range only {
		found := false
		for i, p := range b.probes {
			for _, f := range p.figures {
				if f.key == name || strings.HasPrefix(f.key, name) {
					want[i] = true
					found = true
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("bench: --only %s names no figure; figures: %s", name, strings.Join(b.keys(), ", "))
		}
	}
	for i := range b.probes {
		if !want[i] {
			continue
		}
		for _, f := range b.probes[i].figures {
			if f.limit == "" {
				continue
			}
			for j, q := range b.probes {
				if slices.ContainsFunc(q.figures, func(g figure) bool { return g.key == f.limit }) {
					want[j] = true
				}
			}
		}
	}
	var out []probe
	for i, p := range b.probes {
		if want[i] {
			out = append(out, p)
		}
	}
	return out, nil
}

func (b *bench) keys() []string {
	var keys []string
	for _, p := range b.probes {
		for _, f := range p.figures {
			keys = append(keys, f.key)
		}
	}
	return keys
}

// measure runs p's trials and returns a result per figure.
func (b *bench) measure(p probe) []benchResult {
	n := p.trials
	if n == 0 {
		n = b.opts.trials
	}
	names := make([]string, len(p.figures))
	for i, f := range p.figures {
		names[i] = f.key
	}
	fmt.Fprintf(b.log, "bench: %s ...", strings.Join(names, ", "))
	start := time.Now()
	samples := make([][]float64, len(p.figures))
	var err error
	for range n {
		var vs []float64
		if vs, err = p.run(b); err != nil {
			break
		}
		for i := range p.figures {
			samples[i] = append(samples[i], vs[i])
		}
	}
	fmt.Fprintf(b.log, " %.1fs\n", time.Since(start).Seconds())
	out := make([]benchResult, len(p.figures))
	for i, f := range p.figures {
		r := benchResult{Key: f.key, Name: f.name, Unit: f.unit, Trials: samples[i], LimitKey: f.limit}
		if f.goal != nil {
			r.Goal = f.goal.text
		}
		if err != nil {
			r.Error = err.Error()
			fmt.Fprintf(b.log, "bench: %s: %v\n", f.key, err)
		} else {
			r.Median = median(samples[i])
		}
		b.done[f.key] = r
		out[i] = r
	}
	return out
}

// compare fills in r's limit, ratio and whether it met its goal.
func (b *bench) compare(r *benchResult) {
	if r.Error != "" {
		return
	}
	f := b.figure(r.Key)
	if lim, ok := b.done[r.LimitKey]; ok && lim.Error == "" && lim.Median != 0 {
		r.Limit = lim.Median
		r.Ratio = r.Median / lim.Median
	}
	if f.goal == nil {
		return
	}
	v := r.Median
	if f.goal.ratio {
		if r.Ratio == 0 {
			return
		}
		v = r.Ratio
	}
	met := v <= f.goal.bound
	if f.higher {
		met = v >= f.goal.bound
	}
	if f.goal.maxRatio > 0 && (r.Ratio == 0 || r.Ratio > f.goal.maxRatio) {
		met = false
	}
	r.Met = &met
}

func (b *bench) figure(key string) figure {
	for _, p := range b.probes {
		for _, f := range p.figures {
			if f.key == key {
				return f
			}
		}
	}
	return figure{}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printBenchTable(w io.Writer, rep benchReport) {
	m := rep.Machine
	fmt.Fprintf(w, "wasmnet bench: %s, %d cores, %s, %s/%s; median of %d trials; %.0f s\n\n",
		m.CPU, m.Cores, m.GoVersion, m.OS, m.Arch, rep.Trials, rep.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tkey\twasmnet\traw limit\tratio\tgoal\tmet")
	for _, r := range rep.Results {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\terror: %s\t\t\t%s\t\n", r.Name, r.Key, r.Error, r.Goal)
			continue
		}
		limit, ratio := "-", "-"
		if r.LimitKey != "" && r.Limit != 0 {
			limit = fmt.Sprintf("%s (%s)", formatValue(r.Limit, r.Unit), r.LimitKey)
			ratio = fmt.Sprintf("%.2fx", r.Ratio)
		}
		met := ""
		if r.Met != nil {
			met = map[bool]string{true: "yes", false: "no"}[*r.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Key, formatValue(r.Median, r.Unit), limit, ratio, r.Goal, met)
	}
	tw.Flush()
}

func formatValue(v float64, unit string) string {
	switch {
	case v >= 100000:
		return fmt.Sprintf("%.0f %s", v, unit)
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

// modulePath returns the path of a built example guest: name is
// "echo", "echo-c", "flood-c", ... as built by make examples.
func (b *bench) modulePath(name string) string {
	folder, _, _ := strings.Cut(name, "-")
	return filepath.Join(b.opts.examples, folder, name+".wasm")
}

// starlarkEcho names the echo guest in Starlark source, for module.
const starlarkEcho = "echo-star"

// module loads a guest afresh for each probe: the bench's peak RSS is a
// figure, and a client keeping every module it ever ran would be measured.
func (b *bench) module(name string) (gateway.Module, error) {
	if name == starlarkEcho {
		m := gateway.SourceFile("echo.star", "for v in channel:\n    channel.send(v)\n")
		if _, err := gateway.Interpreter(); err != nil {
			return gateway.Module{}, err
		}
		return m, nil
	}
	if name == wordcountStarModule {
		src, err := os.ReadFile(filepath.Join(b.opts.examples, wordcountStar))
		if err != nil {
			return gateway.Module{}, fmt.Errorf("bench: %w", err)
		}
		return gateway.SourceFile("wordcount.star", string(src)), nil
	}
	m, err := gateway.LoadModule(b.modulePath(name))
	if err != nil {
		return gateway.Module{}, fmt.Errorf("%w (make examples builds the guests)", err)
	}
	return m, nil
}
