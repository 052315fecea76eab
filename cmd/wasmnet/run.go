package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/wasmnet/wasmnet/gateway"
)

// runFlags are the flags of `wasmnet run`.
type runFlags struct {
	fleet     fleetFlags
	sends     []string
	inputs    []string
	chunkSize string
	timeout   time.Duration
	asJSON    bool
	merge     bool
	top       int
	take      int
	sandbox   sandboxFlags
	source    string
	retries   int
}

// terminateTimeout is how long the agents get to end before they are killed.
const terminateTimeout = 5 * time.Second

func newRunCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [flags] MODULE.wasm|SCRIPT.star [-- ARGS...]\n  wasmnet run [flags] -c SOURCE [-- ARGS...]",
		Short: "Run a module on many gateways, feed it input and print what it sends",
		Long: `run starts the gateways (-g, repeatable, N*SPEC for N of them, @FILE for an
inventory of specs, one a line; by default one popen gateway per CPU), runs
MODULE.wasm on every one with ARGS, sends each
--send value to every guest, deals out --input, and prints every item a guest
sends as it arrives: "gw2: VALUE" with VALUE as JSON (bytes as a string when
valid UTF-8, else base64), or with --json one {"type":"item","gateway":"gw2",
"value":VALUE} object per line, and at the end objects of type "error",
"lost", "unreachable" and last "summary" (README, "Output as JSON"). Guests' stdout and stderr go to stderr, tagged with their
gateway. A summary goes to stderr at the end.

Instead of a module, run takes Starlark source (the Python dialect of
go.starlark.net): a SCRIPT.star file, or the program itself with -c. It runs
in the interpreter guest shipped with wasmnet, with the same sandbox; inside,
channel.send(v), channel.receive(), "for v in channel:" and print() talk to
this client (see gateway.Source).

Input (--input FILE|DIR, repeatable; a DIR means its regular files,
recursively, in lexical order) is cut into chunks of about --chunk-size bytes
that end at white space, so no word is split, and no chunk spans two files.
The chunks are dealt out work-sharing style: each goes to the guest with the
fewest bytes sent so far among those that can take it now; a guest whose
channel window is full (it reads more slowly than it is fed) takes none until
it catches up, so the others take its share.
After the last --send value and the last chunk, run half-closes every guest's
channel: the guest's receive reports the end of its input (io.EOF in Go,
WASMNET_ECLOSED in C), and the guest can still send its answers. So a guest
that loops until its input ends, such as primes, returns by itself, and
wordcount answers at the end of its input. A word longer than the agents'
message limit ends the run with an error.

A gateway lost before its guest answered (agent killed, link cut) loses no
work: its chunks are dealt again to the others, or to new executions on the
gateways left, at most --retries times per chunk. The summary marks it LOST
and the exit status is 0 if the job completed.

A gateway that does not start (sshd down, host unreachable, no room for the
agent) costs its share, not the run: run goes on with the others, names each
that did not start and why, and exits with status 3. --min-gateways N (or a
fraction, 0.9) makes fewer a failure: status 1, and no answer.

With --merge every item must be a map of string to integer (as wordcount's
answer is); nothing is printed per item, and the maps summed over all
gateways are printed at the end, highest count first ("COUNT KEY" lines, or
{"type":"count","key":...,"count":...} objects with --json), the first N with --top N.

run ends when every guest has returned (or after --take items from each).
The exit status is 0 only if every guest ended without error; the guests'
errors are printed and the status is 1 otherwise, 2 for a bad flag or spec,
and 124 when --timeout passes (README, "Exit status").
Ctrl-C or SIGTERM terminates every agent and exits with status 130.`,
		Example: `  # Count words over a folder on 4 local agents, print the 20 most frequent:
  wasmnet run -g 4*popen --input corpus/ --merge --top 20 wordcount.wasm

  # Send two values to every guest and print the answers as JSON lines:
  wasmnet run -g 2*popen --send '[1, 1000000]' --take 1 --json primes.wasm

  # Ship source, as execnet's remote_exec(str) does:
  wasmnet run -g 2*popen --send 21 --take 1 -c 'channel.send(channel.receive() * 2)'
  wasmnet run -g popen worker.star

  # Remote and local agents together, arguments after --:
  wasmnet run -g ssh=build@10.0.0.7 -g popen --timeout 1m tool.wasm -- -v input`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("source") {
				if dash := cmd.ArgsLenAtDash(); dash != 0 && len(args) > 0 {
					return usagef("run: with -c, guest arguments come after --: got %q", args)
				}
				return runModule(cmd, &f, "", args)
			}
			if len(args) == 0 {
				return usagef("run: name a module (MODULE.wasm), a script (SCRIPT.star), or give source with -c")
			}
			module, guestArgs := args[0], args[1:]
			if dash := cmd.ArgsLenAtDash(); dash > 1 || dash < 0 && len(args) > 1 {
				return usagef("run: one module, then guest arguments after --: got %q", args)
			}
			return runModule(cmd, &f, module, guestArgs)
		},
	}
	fl := cmd.Flags()
	f.fleet.add(fl, "one popen per CPU")
	f.fleet.addMin(fl)
	fl.StringArrayVar(&f.sends, "send", nil, "JSON value to send to every guest before any input (repeatable)")
	fl.StringArrayVar(&f.inputs, "input", nil, "file or directory whose text is dealt out to the guests in chunks (repeatable)")
	fl.StringVar(&f.chunkSize, "chunk-size", "64KiB", "input chunk size (65536, 64KiB, 1MiB)")
	fl.DurationVar(&f.timeout, "timeout", 0, "bound the whole run; 0 means none")
	fl.BoolVar(&f.asJSON, "json", false, "print one JSON object per line")
	fl.BoolVar(&f.merge, "merge", false, "sum the guests' maps of string to integer and print the result")
	fl.IntVar(&f.top, "top", 0, "with --merge, print only the N highest counts")
	fl.StringVarP(&f.source, "source", "c", "", "Starlark source to run instead of a module")
	fl.IntVar(&f.retries, "retries", 2, "deal the input of a lost gateway again to the others, at most N times per chunk (0: never)")
	fl.IntVar(&f.take, "take", 0, "close each guest's channel after it sent N items (for guests that loop until closed)")
	f.sandbox.register(fl)
	return cmd
}

var (
	errInterrupted = errors.New("interrupted")
	errTimedOut    = errors.New("timed out")
)

// runState is one `wasmnet run` in progress.
type runState struct {
	flags  *runFlags
	stdout io.Writer // where items go; the progress display's writer when it shares a terminal
	stderr io.Writer

	mu    sync.Mutex // guards stats, which senders update
	stats []*gatewayStats
	merge counts

	notStarted *gateway.StartError // the gateways that did not start, if any
}

func runModule(cmd *cobra.Command, f *runFlags, path string, args []string) error {
	stderr := cmd.ErrOrStderr()
	r := &runState{flags: f, stdout: cmd.OutOrStdout(), stderr: stderr, merge: counts{}}
	chunkSize, err := parseSize(f.chunkSize)
	if err != nil || chunkSize < 1 || chunkSize > 32<<20 {
		return usagef("run: --chunk-size %q: want 1 byte to 32 MiB", f.chunkSize)
	}
	var values []any
	for _, s := range f.sends {
		v, err := parseJSONValue(s)
		if err != nil {
			return usagef("run: %w", err)
		}
		values = append(values, v)
	}
	files, err := inputFiles(f.inputs)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	mod, err := loadRunModule(path, f)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	execOpts, err := f.sandbox.execOptions()
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	execOpts = append(execOpts, gateway.WithArgs(args...))
	if err := f.fleet.parseMin(); err != nil {
		return fmt.Errorf("run: %w", err)
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopSignals := cancelOnSignal(ctx, cancel)
	defer stopSignals()
	if f.timeout > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeoutCause(ctx, f.timeout, errTimedOut)
		defer cancelT()
	}

	prog := newProgress(cmd, files)
	// Guests' output is escaped on its way to the terminal (escape.go).
	guestOut := io.Writer(&escapingWriter{w: stderr})
	if prog != nil {
		guestOut = &escapingWriter{w: prog}
		r.stdout = prog.itemWriter(r.stdout)
	}
	gwOpts := []gateway.Option{gateway.WithOutput(guestOut)}
	if prog != nil {
		gwOpts = append(gwOpts, gateway.WithStartHook(prog.gatewayStarted))
	}
	group := f.fleet.group(gwOpts...)
	err = r.run(ctx, group, mod, execOpts, values, files, chunkSize, prog)
	if prog != nil {
		prog.finish()
	}
	terr := group.Terminate(terminateTimeout)
	exit := r.report(ctx, err, terr)
	if f.asJSON {
		if perr := r.printRecords(ctx, r.stdout, err, exit, r.unreachable()); perr != nil && exit == nil {
			exit = fmt.Errorf("run: output: %w", perr)
		}
	}
	return exit
}

// loadRunModule reads the module to run: Starlark source from -c or a .star
// file, else a .wasm file.
func loadRunModule(path string, f *runFlags) (gateway.Module, error) {
	// A FIFO would block the read where neither --timeout nor a signal
	// could end it, and a device could be endless.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return gateway.Module{}, fmt.Errorf("%s: not a regular file", path)
	}
	var m gateway.Module
	switch {
	case path == "":
		m = gateway.SourceFile("-c", f.source)
	case strings.HasSuffix(path, ".star"):
		src, err := os.ReadFile(path)
		if err != nil {
			return gateway.Module{}, err
		}
		m = gateway.SourceFile(filepath.Base(path), string(src))
	default:
		return gateway.LoadModule(path)
	}
	if _, err := gateway.Interpreter(); err != nil {
		return gateway.Module{}, err
	}
	return m, nil
}

// cancelOnSignal cancels ctx with errInterrupted on SIGINT or SIGTERM; the
// returned func stops listening and ends its goroutine.
func cancelOnSignal(ctx context.Context, cancel context.CancelCauseFunc) func() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-sigs:
			cancel(errInterrupted)
		case <-ctx.Done():
		case <-done:
		}
	})
	return func() {
		signal.Stop(sigs)
		close(done)
		wg.Wait()
	}
}

// run starts the gateways and the module, feeds the guests and prints what
// they send until every guest has ended or ctx ends.
func (r *runState) run(ctx context.Context, group *gateway.Group, mod gateway.Module, execOpts []gateway.ExecOption,
	values []any, files []string, chunkSize int, prog *progress) error {
	specs, err := r.flags.fleet.listContext(ctx)
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		specs = []string{fmt.Sprintf("%d*popen", runtime.NumCPU())}
	}
	if expanded, err := gateway.ExpandSpecs(specs...); err == nil {
		prog.gatewaysAsked(len(expanded))
	}
	gws, err := group.MakeGateways(ctx, specs...)
	if errors.As(err, &r.notStarted) && len(gws) > 0 {
		err = nil // a partial fleet: report names the others
	}
	if err != nil {
		return err
	}
	// Every goroutine of the job ends once runCtx does, which is cancelled
	// when run returns; run waits for them.
	runCtx, stop := context.WithCancel(ctx)
	j := newJob(r, mod, execOpts, values, len(files) > 0, prog)
	defer j.wg.Wait()
	defer stop()
	if err := j.startAll(runCtx, gws); err != nil {
		return err
	}
	var chunks chan *chunk
	readErr := make(chan error, 1)
	if len(files) > 0 {
		sp := splitter{size: chunkSize, max: chunkLimit(messageLimit(gws))}
		chunks = make(chan *chunk)
		j.wg.Go(func() {
			defer close(chunks)
			readErr <- readInput(runCtx, sp, files, chunks)
		})
	}
	err = j.run(runCtx, chunks)
	if len(files) > 0 {
		// The reader has ended unless the guests stopped taking input.
		stop()
		if rerr := <-readErr; err == nil && !errors.Is(rerr, context.Canceled) {
			err = rerr
		}
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

// readInput cuts files into chunks and hands them to out until ctx ends.
func readInput(ctx context.Context, sp splitter, files []string, out chan<- *chunk) error {
	for _, f := range files {
		err := sp.split(ctx, f, func(c *chunk) error {
			select {
			case out <- c:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// messageLimit is the smallest message limit the agents of gws announced,
// or 0 when none did.
func messageLimit(gws []*gateway.Gateway) int64 {
	var lim int64
	for _, gw := range gws {
		if n := gw.Info().Limits["message"]; n > 0 && (lim == 0 || n < lim) {
			lim = n
		}
	}
	return lim
}

// startAll runs the module on every gateway in parallel. A gateway lost
// before its guest started (its agent killed while it compiled the
// module) is marked lost, as one lost later is: the others take its share.
// Any other failure to start (a module the agents refuse) fails the job.
func (j *job) startAll(ctx context.Context, gws []*gateway.Gateway) error {
	execs := make([]*execution, len(gws))
	errs := make([]error, len(gws))
	var wg sync.WaitGroup
	for i, gw := range gws {
		wg.Go(func() { execs[i], errs[i] = j.start(ctx, gw, gw.ID()) })
	}
	wg.Wait()
	var err, lostErr error
	started := 0
	for i, gw := range gws {
		switch {
		case errs[i] == nil:
			started++
		case ctx.Err() == nil && (errors.Is(errs[i], io.EOF) || isGone(gw)):
			j.lostAtStart(gw, errs[i])
			lostErr = errs[i]
		case err == nil:
			err = errs[i]
		}
	}
	if err == nil && started == 0 {
		err = fmt.Errorf("every gateway was lost before its guest started: %w", lostErr)
	}
	for _, e := range execs {
		if e == nil {
			continue
		}
		if err != nil {
			e.ch.Close()
			continue
		}
		j.add(ctx, e)
	}
	return err
}

// lostAtStart records gw, lost with err before its guest started.
func (j *job) lostAtStart(gw *gateway.Gateway, err error) {
	j.lost[gw] = true
	now := time.Now()
	j.r.mu.Lock()
	defer j.r.mu.Unlock()
	j.r.stats = append(j.r.stats, &gatewayStats{id: gw.ID(), start: now, end: now, err: err, lost: true})
}

// report prints the merged counts, the summary and the errors, and turns
// the run's outcome into the exit status.
func (r *runState) report(ctx context.Context, err, terminateErr error) error {
	now := time.Now()
	cause := context.Cause(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	input := len(r.flags.inputs) > 0
	failed := slices.ContainsFunc(r.stats, func(s *gatewayStats) bool { return s.failed(input) })
	if r.flags.merge && err == nil && cause == nil && !failed {
		if perr := r.merge.print(r.stdout, r.flags.top, r.flags.asJSON); perr != nil {
			err = fmt.Errorf("run: output: %w", perr)
		}
	}
	if len(r.stats) > 0 {
		printSummary(r.stderr, r.stats, now)
	}
	if terminateErr != nil {
		fmt.Fprintln(r.stderr, "wasmnet:", escapeControls(terminateErr.Error()))
	}
	switch {
	case errors.Is(cause, errInterrupted):
		fmt.Fprintln(r.stderr, "wasmnet: interrupted; every agent was terminated")
		return exitCode(exitInterrupted)
	case errors.Is(cause, errTimedOut):
		fmt.Fprintf(r.stderr, "wasmnet: run timed out after %v; every agent was terminated\n", r.flags.timeout)
		return exitCode(exitTimeout)
	case err != nil && r.notStarted != nil:
		r.printNotStarted()
		return fmt.Errorf("run: %d of %d gateways started, fewer than --min-gateways %s", r.notStarted.Started, r.notStarted.Asked, r.flags.fleet.minGateways)
	case err != nil:
		return err
	}
	for _, s := range r.stats {
		switch {
		case s.failed(input):
			fmt.Fprintf(r.stderr, "%s: %s\n", escapeControls(s.id), escapeControls(guestErrorText(s.err)))
		case s.lost && s.redealt == 0:
			fmt.Fprintf(r.stderr, "%s: lost (%s) before it was dealt any input; the job completed\n", escapeControls(s.id), escapeControls(s.err.Error()))
		case s.lost:
			fmt.Fprintf(r.stderr, "%s: lost (%s); its %d chunks were dealt to the others, and the job completed\n", escapeControls(s.id), escapeControls(s.err.Error()), s.redealt)
		}
	}
	r.printNotStarted()
	switch {
	case failed:
		return exitCode(exitFailure)
	case r.notStarted != nil:
		fmt.Fprintf(r.stderr, "wasmnet: %d of %d gateways did not start; the answer is from the %d that did\n",
			len(r.notStarted.Failed), r.notStarted.Asked, r.notStarted.Started)
		return exitCode(exitPartial)
	}
	return nil
}

// unreachable lists the gateways that did not start, for --json.
func (r *runState) unreachable() []unreachableGateway {
	if r.notStarted == nil {
		return nil
	}
	out := make([]unreachableGateway, 0, len(r.notStarted.Failed))
	for _, f := range r.notStarted.Failed {
		out = append(out, unreachableGateway{ID: f.ID, Spec: f.Spec, Err: f.Err})
	}
	return out
}

// printNotStarted names each gateway that did not start, and why.
func (r *runState) printNotStarted() {
	if r.notStarted == nil {
		return
	}
	for _, f := range r.notStarted.Failed {
		fmt.Fprintf(r.stderr, "%s: did not start (%s): %s\n", escapeControls(f.ID), escapeControls(f.Spec), escapeControls(f.Err.Error()))
	}
}
