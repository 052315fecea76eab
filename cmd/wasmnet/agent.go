package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wasmnet/wasmnet/host"
	"github.com/wasmnet/wasmnet/internal/trace"
)

func newAgentCommand() *cobra.Command {
	var flags agentFlags
	var res residentFlags
	var sharedMode bool
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Serve the wasmnet protocol on stdin/stdout (started by gateways, not by hand)",
		Long: `agent serves one client on stdin and stdout: popen, ssh= and exec= gateways
start it. It exits when its stdin closes, so it never outlives its client.
Guest output never reaches stdout: it travels to the client as tagged lines.

With --resident it instead makes sure that the user's resident agent of this
build runs, and exits once it accepts connections: one long-lived process that
serves popen//resident gateways over a private unix socket in the user's cache
directory (wasmnet/resident), and exits after --resident-idle without one.
With --connect-resident it bridges stdin and stdout to that agent.`,
		Example: `  wasmnet agent --cache-dir /var/cache/wasmnet`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			// A client that closed its end gets the last frames written
			// to a broken pipe: that must be an error Serve ends on, not
			// a SIGPIPE that kills the agent before it has cleaned up.
			signal.Ignore(syscall.SIGPIPE)
			if err := applyNice(); err != nil {
				return err
			}
			if err := flags.check(cmd.Flags()); err != nil {
				return err
			}
			cfg := flags.config()
			// With trace.Relay the client asks for the lines over the
			// connection: written here as well, they would reach its
			// stderr twice, or be lost in a remote one.
			if v := os.Getenv(trace.EnvVar); v != trace.Relay {
				if w, err := trace.Open(v); err == nil && w != nil {
					cfg = cfg.WithTrace(w)
					tr := trace.New(w, "agent")
					tr.Printf("agent start")
					defer tr.Printf("agent exit")
				}
			}
			if prefix := os.Getenv("WASMNET_AGENT_CPUPROFILE"); prefix != "" {
				stop, err := startCPUProfile(fmt.Sprintf("%s.%d", prefix, os.Getpid()))
				if err != nil {
					return err
				}
				defer stop()
			}
			if prefix := os.Getenv("WASMNET_AGENT_HEAPPROFILE"); prefix != "" {
				defer heapProfileOnSignal(ctx, fmt.Sprintf("%s.%d", prefix, os.Getpid()))()
			} else {
				// Go samples allocations by default, for profiles that
				// nothing reads here; their records stay in a long-lived
				// agent (warm-rss-idle 0.5 MiB lower without them).
				runtime.MemProfileRate = 0
			}
			if res.any() {
				return runResident(ctx, &res, cfg)
			}
			if sharedMode {
				return runShared(ctx, cfg)
			}
			return host.Serve(ctx, newStdio(), cfg)
		},
	}
	flags.registerAgent(cmd.Flags())
	res.register(cmd.Flags())
	cmd.Flags().BoolVar(&sharedMode, "shared", false, "serve the gateways a client sends over descriptor 3 (started by popen gateways that share an agent)")
	cmd.Flags().MarkHidden("shared")
	return cmd
}

// stdio is the agent's connection: stdin to read, stdout to write.
type stdio struct{ in, out *os.File }

// newStdio returns the agent's stdin and stdout, made pollable where the
// platform allows: an inherited pipe is in blocking mode, and a goroutine
// blocked in a plain read holds a thread that the scheduler takes back only
// after a while, which cost every message tens of microseconds.
func newStdio() stdio { return stdio{in: pollable(os.Stdin, 0), out: pollable(os.Stdout, 1)} }

func (s stdio) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s stdio) Write(p []byte) (int, error) { return s.out.Write(p) }
func (s stdio) Close() error {
	s.out.Close()
	return s.in.Close()
}

// startCPUProfile writes a CPU profile of this process to path until stop
// is called. Agents started by gateways write one when
// $WASMNET_AGENT_CPUPROFILE is set (to path.<pid>), for BENCHMARKS.md.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// writeAllocsProfile writes what this process allocated since it started,
// sampled (runtime.MemProfileRate), to path: where a client's peak memory
// comes from is what allocates most.
func writeAllocsProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("memprofile: %w", err)
	}
	err = pprof.Lookup("allocs").WriteTo(f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("memprofile: %w", err)
	}
	return nil
}

// heapProfileOnSignal writes a heap profile of this process to path, after
// a collection, each time the process gets SIGUSR1 (where there is one),
// until the returned stop is called. Agents write one when
// $WASMNET_AGENT_HEAPPROFILE is set (to path.<pid>), so that what an idle
// agent keeps can be measured, for BENCHMARKS.md.
func heapProfileOnSignal(ctx context.Context, path string) (stop func()) {
	if len(heapProfileSignals) == 0 {
		return func() {} // Notify with no signal would relay them all
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, heapProfileSignals...)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				writeHeapProfile(path)
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		cancel()
		<-done
	}
}

func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	runtime.GC()
	pprof.Lookup("heap").WriteTo(f, 0)
}
