package gateway

import (
	"io"
	"time"

	"github.com/wasmnet/wasmnet/internal/trace"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// An ExecOption configures one RemoteExec.
type ExecOption func(*execRequest)

// execRequest is the request a RemoteExec sends, which ExecOptions fill in.
type execRequest = wire.ExecRequest

// WithArgs sets the guest's arguments after argv[0].
func WithArgs(args ...string) ExecOption {
	return func(r *execRequest) { r.Args = append(r.Args, args...) }
}

// WithEnv adds NAME=VALUE entries to the guest's environment, which is
// otherwise empty.
func WithEnv(kv ...string) ExecOption {
	return func(r *execRequest) { r.Env = append(r.Env, kv...) }
}

// WithMemoryLimit bounds the guest's linear memory in bytes (default 256 MiB).
func WithMemoryLimit(bytes uint64) ExecOption {
	return func(r *execRequest) { r.MemoryLimit = bytes }
}

// WithTimeLimit bounds the guest's run time; it is stopped and its channel
// closed with an error when the limit passes.
func WithTimeLimit(d time.Duration) ExecOption {
	return func(r *execRequest) { r.TimeLimit = d }
}

// WithEntry calls the named export instead of _start, after _initialize
// when the module has one (reactor modules built with //go:wasmexport).
func WithEntry(name string) ExecOption {
	return func(r *execRequest) { r.Entry = name }
}

// WithWalltime grants the time of day; by default the guest sees a fake
// one (a real monotonic clock and real sleeping it has by default).
func WithWalltime() ExecOption { return func(r *execRequest) { r.Walltime = true } }

// WithFakeClock runs the guest on deterministic clocks: time advances only
// as the guest reads it, and sleeps return at once. For reproducible runs;
// a Go guest's runtime paces its memory management by the clock and may
// then run out of memory (RATIONALE.md).
func WithFakeClock() ExecOption { return func(r *execRequest) { r.FakeClock = true } }

// WithRandom grants real randomness; by default it is deterministic.
func WithRandom() ExecOption { return func(r *execRequest) { r.Random = true } }

// WithDir preopens the agent's directory host as guest in the guest.
func WithDir(host, guest string, readOnly bool) ExecOption {
	return func(r *execRequest) {
		r.Dirs = append(r.Dirs, wire.DirGrant{Host: host, Guest: guest, ReadOnly: readOnly})
	}
}

// An Option configures Make.
type Option func(*makeConfig)

type makeConfig struct {
	output    io.Writer
	agentPath string
	keepAlive time.Duration
	id        string
	via       func(id string) *Gateway
	trace     *trace.Tracer
	traceSet  bool
	sshPool   *sshPool // a Group's shared SSH connections; nil: none
	resident  *bool    // WithResident; nil: popen runs a process per gateway
	share     *bool    // WithShare; nil: popen gateways share agents
	// agents are the shared agent processes of the gateway's group; nil
	// where a system has none.
	agents *agentPool
	// transports maps the spec types WithTransport added to their dialers.
	transports map[string]DialFunc
	// traceAgents asks agents for their trace lines (WithAgentTrace).
	traceAgents bool

	onStart func(id string, err error) // WithStartHook's
}

func newMakeConfig(opts []Option) *makeConfig {
	var cfg makeConfig
	for _, o := range opts {
		o(&cfg)
	}
	return &cfg
}

// WithStartHook calls fn when a gateway has started (err nil) or failed
// to, on the goroutine that started it, so that a program can show how
// many of a fleet are up while Group.MakeGateways waits for the rest. fn
// must not block.
func WithStartHook(fn func(id string, err error)) Option {
	return func(c *makeConfig) { c.onStart = fn }
}

// WithOutput sends guests' stdout and stderr lines, tagged with gateway and
// channel id, to w. The default is os.Stderr.
func WithOutput(w io.Writer) Option { return func(c *makeConfig) { c.output = w } }

// WithAgentPath names the wasmnet binary for this machine's OS/arch: popen
// gateways run it, and ssh= gateways upload it to hosts of the same
// platform that lack it. The default is the running executable when it is
// wasmnet (never a test binary), else $WASMNET_AGENT, else wasmnet from
// PATH; ssh= then also looks in dist/ (see make agents).
func WithAgentPath(path string) Option { return func(c *makeConfig) { c.agentPath = path } }

// WithKeepAlive pings the agent at this interval and takes it for dead
// after three silent intervals. The default is 5 s for network gateways
// (networkKeepAlive) and none for local processes.
func WithKeepAlive(d time.Duration) Option { return func(c *makeConfig) { c.keepAlive = d } }

// WithTrace writes the gateway's debug trace (lifecycle, requests, channel
// opens and closes) to w, or nothing when w is nil. The default is what
// $WASMNET_DEBUG says, as execnet's EXECNET_DEBUG: "1" for stderr, "2" for
// stderr with the agents' lines (as WithAgentTrace), or a file that the
// client and its local agents append to.
func WithTrace(w io.Writer) Option {
	return func(c *makeConfig) { c.trace, c.traceSet, c.traceAgents = trace.New(w, "client"), true, false }
}

// WithAgentTrace is WithTrace, and the agent sends its own trace lines
// over the connection, to be written to w too, each tagged
// "agent[PID]@ID" with the agent's pid and the gateway's id (execnet's
// EXECNET_DEBUG=2). Control characters in them are escaped. An agent
// that cannot keep up drops lines and says how many.
func WithAgentTrace(w io.Writer) Option {
	return func(c *makeConfig) { c.trace, c.traceSet, c.traceAgents = trace.New(w, "client"), true, w != nil }
}
