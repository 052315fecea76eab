// Package gateway is the wasmnet client: it starts or reaches agents from a
// spec string (popen, ssh=, socket=, exec=, via=; see Spec) or over any
// stream (NewClient), runs modules on them with RemoteExec, and manages many
// at once with Group and MultiChannel.
//
// The package does not link the agent. An agent in the client's own
// process, the "inproc" spec of the Examples, comes from gateway/inproc.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/buildinfo"
	"github.com/wasmnet/wasmnet/internal/trace"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// Status is an agent's report on itself, as RemoteStatus returns it.
type Status struct {
	Version  string // the agent's build
	OS, Arch string
	PID      int
	// Cwd and Executable are the agent's working directory and binary, as
	// execnet's _rinfo() has them: pytest-xdist compares them to tell
	// whether workers share a file system.
	Cwd           string
	Executable    string
	ABI           []int // the guest ABI versions it serves
	Channels      int   // open channels
	Executing     int   // executions running now
	Executions    int64 // started since the agent began
	ModulesCached int   // compiled modules in memory
	Compilations  int64 // compilations that produced new machine code
	CacheLoads    int64 // modules loaded from the disk cache
	ModuleUploads int64 // modules received from clients
	UploadedBytes int64 // their total size
	RSS           int64 // resident memory in bytes, where known
	HeapAlloc     int64 // Go heap in use
	UptimeNanos   int64
	CompileCache  string // the disk cache directory, if any
	ImageStarts   int64  // executions restored from an initialised image
	KeptStarts    int64  // executions run on an instance kept, reset, from an earlier one
}

// A Gateway is a connection to one agent. It outlives the ctx it was made
// with and ends with Exit, its group's Terminate, or the agent's loss.
type Gateway struct {
	id     string
	spec   Spec
	mux    *channel.Mux
	link   *link
	output *outputTagger
	tr     *trace.Tracer // nil unless tracing
	relay  bool          // the agent was asked for its trace lines

	exitOnce sync.Once
	reaped   chan struct{} // closed once the agent has ended and been reaped
	// Set by watch before reaped is closed: how the agent ended.
	waitErr  error
	killed   bool // it did not end in time after its connection did
	onExit   func(*Gateway)
	onExitMu sync.Mutex
	exited   bool // set by watch, under onExitMu, once it has read onExit

	uploads onceEach // module uploads, one per module however many RemoteExec ask

	startTook time.Duration // set once by newGateway
}

// Make starts or reaches the agent that spec names and exchanges hellos
// with it. ctx bounds only that start. The gateway joins DefaultGroup
// until it ends, and a via= in spec names a gateway of that group.
func Make(ctx context.Context, spec string, opts ...Option) (*Gateway, error) {
	cfg := newMakeConfig(opts)
	sp, err := parseSpec(spec, cfg.transports)
	if err != nil {
		return nil, err
	}
	dg := DefaultGroup()
	if cfg.via == nil {
		cfg.via = dg.Gateway
	}
	cfg.agents = dg.agents
	gw, err := makeGateway(ctx, sp, cfg)
	if err != nil {
		return nil, err
	}
	dg.adopt(gw)
	return gw, nil
}

func makeGateway(ctx context.Context, sp Spec, cfg *makeConfig) (*Gateway, error) {
	return newGateway(ctx, sp, cfg, func() (*link, time.Duration, error) { return openLink(ctx, sp, cfg) })
}

// newGateway opens a link with open and exchanges hellos over it: the one
// way every gateway, from a spec or from NewClient, starts.
func newGateway(ctx context.Context, sp Spec, cfg *makeConfig, open func() (*link, time.Duration, error)) (*Gateway, error) {
	id := sp.ID
	if id == "" {
		id = cfg.id
	}
	if id == "" {
		id = "gw0"
	}
	tr, relay := cfg.trace, cfg.traceAgents
	if !cfg.traceSet {
		tr, relay = trace.FromEnv("client"), os.Getenv(trace.EnvVar) == trace.Relay
	}
	start := time.Now()
	tr.Printf("gateway %s: starting %s", id, sp)
	g, err := startGateway(ctx, id, sp, cfg, tr, open)
	if cfg.onStart != nil {
		cfg.onStart(id, err)
	}
	if err != nil {
		tr.Printf("gateway %s: start failed after %v: %v", id, time.Since(start).Round(time.Microsecond), err)
		return nil, err
	}
	g.startTook = time.Since(start)
	info := g.Info()
	tr.Printf("gateway %s: up in %v: agent pid %d, version %s, %s/%s", id, time.Since(start).Round(time.Microsecond), info.PID, info.Version, info.OS, info.Arch)
	if relay && tr.On() {
		// An agent too old to relay ignores the notice.
		g.relay = true
		g.mux.Notify(wire.KindTraceOn, nil)
	}
	return g, nil
}

// startGateway opens the link and exchanges hellos over it.
func startGateway(ctx context.Context, id string, sp Spec, cfg *makeConfig, tr *trace.Tracer, open func() (*link, time.Duration, error)) (*Gateway, error) {
	l, keepAlive, err := open()
	if err != nil {
		return nil, err
	}
	if cfg.keepAlive != 0 {
		keepAlive = cfg.keepAlive
	}
	out := cfg.output
	if out == nil {
		out = os.Stderr
	}
	g := &Gateway{id: id, spec: sp, link: l, output: newOutputTagger(id, out), reaped: make(chan struct{}), tr: tr}
	// An agent says hello at once; a command that never does must not
	// hold Make for as long as its caller's ctx allows, which may be forever.
	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	g.mux, err = channel.NewMux(hctx, l.conn, channel.RoleClient, &channel.Config{
		KeepAlive: keepAlive,
		Handler:   channel.HandlerFunc(g.serve),
		Owner:     g,
		Info:      channel.Info{Version: buildinfo.ModuleVersion()},
	})
	if err != nil {
		l.kill()
		l.wait()
		// An *AgentStartError already carries the stderr, and says more
		// than the hello it cut short.
		var se *AgentStartError
		if errors.As(err, &se) {
			return nil, &wrapError{msg: fmt.Sprintf("gateway %s: %s", id, se.describe()), err: err}
		}
		if tail := l.stderr.String(); tail != "" {
			return nil, fmt.Errorf("gateway %s: %w; agent stderr: %s", id, err, tail)
		}
		return nil, fmt.Errorf("gateway %s: %w", id, err)
	}
	go g.watch()
	return g, nil
}

// networkKeepAlive is the keepalive of gateways that reach their agent over
// a network (ssh=, socket=), where a link may die without a word; a local
// process's end is seen at once.
const networkKeepAlive = 5 * time.Second

// helloTimeout bounds the wait for an agent's hello once its transport is
// up; generous, for agents under emulation or on loaded hosts.
const helloTimeout = time.Minute

// openLink starts the transport sp names, and says what keepalive suits it.
func openLink(ctx context.Context, sp Spec, cfg *makeConfig) (*link, time.Duration, error) {
	if id, ok := sp.Options["installvia"]; ok && sp.Type == "socket" {
		return openInstalledSocket(ctx, sp, id, cfg)
	}
	if sp.Via != "" {
		var hop *Gateway
		if cfg.via != nil {
			hop = cfg.via(sp.Via)
		}
		if hop == nil {
			return nil, 0, fmt.Errorf("gateway: spec %s: via=%s names no gateway of this group", sp, sp.Via)
		}
		return openViaLink(ctx, sp, hop, cfg)
	}
	if dial, ok := cfg.transports[sp.Type]; ok {
		l, err := dialTransport(ctx, sp, dial)
		return l, 0, err
	}
	switch sp.Type {
	case "popen":
		l, err := startPopen(ctx, sp, cfg)
		return l, 0, err
	case "exec":
		l, err := startExec(ctx, sp)
		return l, 0, err
	case "ssh":
		l, _, err := dialSSH(ctx, sp, agentBinaries(cfg), nil, cfg.sshPool)
		return l, networkKeepAlive, err
	case "socket":
		l, err := dialSocket(ctx, sp, nil)
		return l, networkKeepAlive, err
	}
	return nil, 0, fmt.Errorf("gateway: spec %s: %s gateways are not supported yet", sp, sp.Type)
}

// watch reaps the agent once the connection ends, whoever ended it.
func (g *Gateway) watch() {
	<-g.mux.Done()
	g.tr.Printf("gateway %s: connection ended: %v", g.id, g.mux.Err())
	// The mux closes the conn itself: at once when it failed, after its
	// writer flushed what was queued (a second at most) when it was
	// closed. Closing it here too cut that flush, and an Exit right
	// after Make could take the client's hello with it.
	done := make(chan struct{})
	go func() {
		g.waitErr = g.link.wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(exitGrace):
		g.tr.Printf("gateway %s: agent still running %v after the end; killing it", g.id, exitGrace)
		g.killed = true
		g.link.kill()
		<-done
	}
	g.tr.Printf("gateway %s: agent reaped", g.id)
	g.output.flush()
	// The gateway leaves its group before Done closes, so that a caller
	// woken by Done (Terminate) finds the group without it.
	g.onExitMu.Lock()
	g.exited = true
	fn := g.onExit
	g.onExitMu.Unlock()
	if fn != nil {
		fn(g)
	}
	close(g.reaped)
}

// ID returns the gateway's id.
func (g *Gateway) ID() string { return g.id }

// Spec returns the spec the gateway was made from.
func (g *Gateway) Spec() Spec { return g.spec }

// Info returns what the agent said of itself in its hello.
func (g *Gateway) Info() channel.Info { return g.mux.Peer().Info }

// Uploaded reports whether starting the gateway's agent streamed the agent
// binary to the host because its cache (~/.cache/wasmnet) lacked that build.
// It is false for a cached start and for transports without a bootstrap
// (popen, exec=).
func (g *Gateway) Uploaded() bool { return g.link.boot != nil && g.link.boot.Uploaded }

// StartTime is how long the gateway took to start: to connect, bootstrap
// the agent and exchange hellos with it.
func (g *Gateway) StartTime() time.Duration { return g.startTook }

// Done is closed when the agent has ended and been reaped, and the
// gateway has left its group.
func (g *Gateway) Done() <-chan struct{} { return g.reaped }

// NewChannel opens a channel to the agent, to send to a guest.
func (g *Gateway) NewChannel() (*channel.Channel, error) {
	ch, err := g.mux.OpenChannel()
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", g.id, err)
	}
	g.traceChannel(ch, "open")
	return ch, nil
}

// Of returns the gateway a channel belongs to, as execnet's
// channel.gateway: the one whose RemoteExec or NewChannel opened it, or
// whose agent sent it inside a message. It is nil for a channel of no
// gateway (one of a Mux made without this package).
func Of(ch *channel.Channel) *Gateway {
	g, _ := ch.Owner().(*Gateway)
	return g
}

// RemoteExec runs m on the agent and returns the channel bound to it. The
// agent receives m's bytes only if it lacks them. ctx bounds the start; the
// execution then runs until it returns, a limit ends it, or the gateway
// ends. Every reason the module cannot start (not WebAssembly, an import
// the agent lacks, an unknown entry point) is returned here.
func (g *Gateway) RemoteExec(ctx context.Context, m Module, opts ...ExecOption) (*channel.Channel, error) {
	if m.err != nil {
		return nil, fmt.Errorf("gateway %s: remote exec %s: %w", g.id, m.name, m.err)
	}
	ch, err := g.mux.OpenChannel()
	if err != nil {
		return nil, fmt.Errorf("gateway %s: remote exec %s: %w", g.id, m.name, err)
	}
	req := wire.ExecRequest{Channel: ch.ID(), Module: m.sum, OutputToPeer: true}
	for _, o := range opts {
		o(&req)
	}
	if m.args != nil && m.prog == nil {
		req.Env = append(req.Env, m.args.env())
	}
	g.tr.Printf("gateway %s: exec %s (sha256 %.12s, %d bytes) on channel %d", g.id, m.name, m.sum, m.Size(), ch.ID())
	err = g.exec(ctx, m, &req)
	if err == nil {
		err = sendProgram(ctx, ch, m, &req)
	}
	if err != nil {
		g.tr.Printf("gateway %s: exec on channel %d failed: %v", g.id, ch.ID(), err)
		ch.Close()
		return nil, fmt.Errorf("gateway %s: remote exec %s: %w", g.id, m.name, err)
	}
	g.traceChannel(ch, "exec started on")
	return ch, nil
}

func (g *Gateway) exec(ctx context.Context, m Module, req *execRequest) error {
	body, err := msgpack.Marshal(req)
	if err != nil {
		return err
	}
	for attempt := range 2 {
		out, err := g.mux.Call(ctx, wire.KindExec, body)
		if err != nil {
			return err
		}
		var reply wire.ExecReply
		if err := channel.UnmarshalInto(out, &reply); err != nil {
			return fmt.Errorf("malformed exec reply: %w", err)
		}
		if reply.Warning != "" {
			g.agentWarning(req.Channel, reply.Warning)
		}
		if !reply.NeedModule {
			return nil
		}
		if !m.hasBytes() {
			return errors.New("the agent lacks the module and it has no bytes to send")
		}
		// Concurrent calls that all heard NeedModule share one upload;
		// a second request after one succeeded sends it again.
		err = g.uploads.do(ctx, m.sum, attempt > 0, func() error {
			g.tr.Printf("gateway %s: the agent lacks %s; uploading %d bytes", g.id, m.name, m.Size())
			return g.upload(ctx, m)
		})
		if err != nil {
			return err
		}
	}
	return errors.New("the agent asked for the module again after receiving it")
}

// upload sends m's bytes to the agent, read as they are written.
func (g *Gateway) upload(ctx context.Context, m Module) error {
	head, err := m.uploadHead()
	if err != nil {
		return err
	}
	r, verify, err := m.uploadReader()
	if err != nil {
		return fmt.Errorf("gateway: upload %s: %w", m.name, err)
	}
	_, err = g.mux.CallStream(ctx, wire.KindModule, head, r, m.size)
	if verr := verify(); verr != nil {
		// The agent refused bytes that are not the module's; say why.
		return fmt.Errorf("gateway: upload %s: it changed since it was loaded: %w", m.name, verr)
	}
	return err
}

// maxWarning bounds an agent's warning line as printed.
const maxWarning = 4 << 10

// agentWarning prints a warning of the agent with the output of the guest
// whose exec reply carried it, as a line of its stderr.
func (g *Gateway) agentWarning(ch uint32, line string) {
	if len(line) > maxWarning {
		line = line[:maxWarning] + "..."
	}
	g.output.write(wire.Output{Channel: ch, Stream: 2, Data: []byte(line + "\n")})
}

// RemoteStatus asks the agent for its status.
func (g *Gateway) RemoteStatus(ctx context.Context) (Status, error) {
	out, err := g.mux.Call(ctx, wire.KindStatus, nil)
	if err != nil {
		return Status{}, fmt.Errorf("gateway %s: status: %w", g.id, err)
	}
	var st wire.Status
	if err := channel.UnmarshalInto(out, &st); err != nil {
		return Status{}, fmt.Errorf("gateway %s: status: %w", g.id, err)
	}
	// The conversion compiles only while Status has wire.Status's fields.
	return Status(st), nil
}

// Exit asks the agent to end and waits until it has; when ctx ends first,
// the agent is killed. Every pending Receive on the gateway's channels
// returns an error at once. Exit may be called more than once.
//
// Exit returns an error when the agent did not stop as asked: it was killed
// (ctx ended first, or it outlived its connection by exitGrace), or its
// process exited with a failure (other than SIGPIPE from writing to the
// connection the client had closed).
func (g *Gateway) Exit(ctx context.Context) error {
	g.exitOnce.Do(func() {
		g.tr.Printf("gateway %s: exit", g.id)
		g.mux.Notify(wire.KindTerminate, nil)
		if g.relay {
			// The agent sends the trace lines it still holds, then
			// closes the connection: wait for that, briefly, so that
			// they are read.
			select {
			case <-g.mux.Done():
			case <-time.After(relayGrace):
			case <-ctx.Done():
			}
		}
		g.mux.Close()
	})
	select {
	case <-g.reaped:
	case <-ctx.Done():
		g.tr.Printf("gateway %s: exit: the agent did not end in time; killing it", g.id)
		g.link.kill()
		<-g.reaped
		return fmt.Errorf("gateway %s: exit: %w; the agent was killed", g.id, ctx.Err())
	}
	if g.killed {
		return fmt.Errorf("gateway %s: exit: the agent did not end within %v of its connection and was killed", g.id, exitGrace)
	}
	var exitErr *exec.ExitError
	if errors.As(g.waitErr, &exitErr) && !brokenPipe(exitErr) {
		return fmt.Errorf("gateway %s: exit: the agent ended with %w", g.id, g.waitErr)
	}
	return nil
}

// traceChannel writes what happened to ch now and, in the background, how
// it closes. It does nothing unless tracing.
func (g *Gateway) traceChannel(ch *channel.Channel, what string) {
	if !g.tr.On() {
		return
	}
	g.tr.Printf("gateway %s: %s channel %d", g.id, what, ch.ID())
	go func() { // ends when ch closes, at the latest with the gateway
		err := ch.WaitClose(context.Background())
		if err == nil {
			g.tr.Printf("gateway %s: channel %d closed", g.id, ch.ID())
		} else {
			g.tr.Printf("gateway %s: channel %d closed: %v", g.id, ch.ID(), err)
		}
	}()
}

// relayGrace bounds how long Exit waits for the last trace lines of an
// agent that relays them (WithAgentTrace).
const relayGrace = 2 * time.Second

// exitGrace is how long an agent may take to end once its connection has.
const exitGrace = 3 * time.Second

// kill ends the agent at once; Done closes when it is reaped.
func (g *Gateway) kill() {
	g.link.kill()
	g.mux.Close()
}

func (g *Gateway) setOnExit(fn func(*Gateway)) {
	g.onExitMu.Lock()
	exited := g.exited
	g.onExit = fn
	g.onExitMu.Unlock()
	if exited {
		fn(g)
	}
}

// serve handles what the agent sends unasked: guest output and, when
// asked for, its trace lines.
func (g *Gateway) serve(_ context.Context, _ *channel.Mux, kind uint8, body []byte) ([]byte, error) {
	if kind == wire.KindTrace {
		var l wire.TraceLine
		if err := channel.UnmarshalInto(body, &l); err != nil {
			return nil, err
		}
		g.tr.Relayed(fmt.Sprintf("agent[%d]@%s", l.PID, g.id), l.Msg)
		return nil, nil
	}
	if kind != wire.KindOutput {
		return nil, fmt.Errorf("the client serves no request of kind %d", kind)
	}
	var o wire.Output
	if err := channel.UnmarshalInto(body, &o); err != nil {
		return nil, err
	}
	g.output.write(o)
	return nil, nil
}
