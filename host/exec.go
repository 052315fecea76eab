package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmnet/wasmnet/abi"
	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// execution is one running guest instance and the channels it holds. Its
// handles are touched only by host functions, which run on the guest's
// goroutine, so they need no lock.
type execution struct {
	agent   *agent
	main    *channel.Channel
	handles map[uint32]*handle
	ctx     context.Context // ends with the run-time limit, the main channel or the agent
	cancel  context.CancelCauseFunc
	mainH   *handle // handles[main.ID()]
	memory  *limitedAllocator
	stdout  *outputWriter
	stderr  *outputWriter
	limit   time.Duration
	maxMsg  int
	image   *imagePlan    // nil: the module starts without an image
	initABI bool          // the guest called the ABI during its _initialize
	initing bool          // the guest is in its _initialize
	stored  *storedModule // its module, released when it ends
	random  io.Reader     // what the guest reads as random bytes
	clocks  fakeClocks    // what it reads from clocks not granted
	started time.Time     // where its real monotonic clock reads monoBase
	plain   bool          // the request binds nothing to the instance (plainRequest)
	// maxReleased is the largest handle the guest released (abi.go).
	maxReleased uint32
	// closeDirs closes the directories granted, after the module.
	closeDirs func()
	files     *execFiles // the descriptors its grants hold; nil without one
}

// handle is a channel the guest holds, with the message it was told is too
// large for its buffer, kept until it asks again.
type handle struct {
	ch      *channel.Channel
	pending []byte
	code    int32 // the result code pending goes with: ok or remote error
	// closed is set when the guest closes ch itself; read by the watcher
	// of the main channel, on another goroutine.
	closed atomic.Bool
}

// errMainClosed ends an execution whose client closed its channel.
var errMainClosed = errors.New("its channel was closed")

type execKey struct{}

// maxHandles bounds the channels one guest may hold.
const maxHandles = 1 << 16

// exec starts an execution: synchronously up to a ready instance, so that
// every reason it cannot start reaches RemoteExec, then the guest runs on
// its own goroutine.
func (a *agent) exec(ctx context.Context, req *wire.ExecRequest) (*wire.ExecReply, error) {
	stored := a.store.lookup(ctx, a.cfg.tenant, req.Module)
	if stored == nil {
		return &wire.ExecReply{NeedModule: true}, nil
	}
	running := false // until then, this function releases stored
	defer func() {
		if !running {
			a.store.release(stored)
		}
	}()
	if stored.err != nil {
		return nil, stored.err
	}
	main := a.mux.Channel(req.Channel)
	if main == nil {
		return nil, fmt.Errorf("exec: channel %d is not open", req.Channel)
	}

	limit := req.MemoryLimit
	if limit == 0 {
		// A maximum below the default lowers what an execution gets
		// unasked, rather than refusing every execution that asks nothing.
		limit = min(a.cfg.defaultMemoryLimit, a.cfg.maxMemoryLimit)
	}
	if limit > a.cfg.maxMemoryLimit {
		return nil, fmt.Errorf("exec: memory limit of %s exceeds the agent's maximum of %s"+raiseMaxMemory,
			formatMiB(limit), formatMiB(a.cfg.maxMemoryLimit))
	}
	if len(req.Dirs) > 0 && !a.cfg.allowDirGrants {
		return nil, errors.New("exec: this agent grants no directories" + refusedDirs)
	}
	mainHandle := &handle{ch: main}
	e := &execution{
		agent:     a,
		main:      main,
		handles:   map[uint32]*handle{main.ID(): mainHandle},
		mainH:     mainHandle,
		memory:    &limitedAllocator{limit: limit, pools: &a.memory, tenant: a.cfg.tenant},
		limit:     req.TimeLimit,
		maxMsg:    a.cfg.maxMessage,
		closeDirs: func() {},
		started:   time.Now(),
	}
	if req.MaxMessage > 0 && req.MaxMessage < e.maxMsg {
		e.maxMsg = req.MaxMessage
	}
	if e.limit == 0 {
		e.limit = a.cfg.defaultTimeLimit
	}
	compiled, err := a.store.compiledFor(ctx, stored, unlimited)
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	rt, err := a.runtimes.get(a.ctx, unlimited)
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	if e.image = stored.image.plan(req, limit == a.store.snapLimit); e.image != nil {
		e.memory.image = e.image.memory()
	}
	entry, err := entryPoint(compiled, req.Entry)
	if err != nil {
		return nil, err
	}
	// wazero cannot take a refusal of the initial memory, so that case is
	// checked here.
	for _, mem := range compiled.ExportedMemories() {
		if need := uint64(mem.Min()) * 65536; need > limit {
			return nil, fmt.Errorf("exec: the module needs %d MiB of memory to start, over its limit of %d MiB%s", need>>20, limit>>20, raiseMemory)
		}
	}
	e.ctx, e.cancel = context.WithCancelCause(a.ctx)
	if e.limit > 0 {
		var stop context.CancelFunc
		e.ctx, stop = context.WithTimeout(e.ctx, e.limit)
		cancel := e.cancel
		e.cancel = func(cause error) { cancel(cause); stop() }
	}
	e.ctx = context.WithValue(e.ctx, execKey{}, e)
	e.stdout = newOutputWriter(e.ctx, a.mux, main.ID(), 1, req.OutputToPeer, 0)
	e.stderr = newOutputWriter(e.ctx, a.mux, main.ID(), 2, req.OutputToPeer, 4096)
	e.random = randomFor(req)
	e.plain = plainRequest(req)
	if err := a.cfg.execLimit.acquire(); err != nil {
		e.cancel(nil)
		return nil, err
	}
	if e.plain && e.image != nil {
		if in := a.store.takeInstance(stored, e.memory.image, limit, a.cfg.tenant); in != nil {
			in.bind(e)
			go e.watchMain()
			a.keptStarts.Add(1)
			running = true
			return e.start(stored, in, entry), nil
		}
	}
	in := &instance{}
	in.cur.Store(e)
	mc, err := moduleConfig(req, in)
	if err != nil {
		a.cfg.execLimit.release()
		e.cancel(nil)
		return nil, err
	}
	if len(req.Dirs) > 0 {
		e.files = newExecFiles(&a.cfg)
		fsc, closeDirs, err := grantDirs(req.Dirs, e.files)
		if err != nil {
			a.cfg.execLimit.release()
			e.cancel(nil)
			return nil, err
		}
		mc = mc.WithFSConfig(fsc)
		e.closeDirs = closeDirs
	}
	// The watcher starts before the instantiation, which runs the
	// module's start function: that may loop too.
	go e.watchMain()
	mod, err := rt.InstantiateModule(experimental.WithMemoryAllocator(e.ctx, e.memory), compiled, mc)
	if err != nil {
		a.cfg.execLimit.release()
		e.cancel(nil)
		e.closeDirs()
		if e.memory.exceeded.Load() {
			return nil, fmt.Errorf("exec: the module needs more memory than its limit of %d MiB%s", limit>>20, raiseMemory)
		}
		return nil, fmt.Errorf("exec: instantiate: %w", err)
	}
	if err := e.image.restore(mod); err != nil {
		mod.Close(context.Background())
		a.cfg.execLimit.release()
		e.cancel(nil)
		return nil, fmt.Errorf("exec: %w", err)
	}
	if e.image != nil && e.image.snap != nil {
		a.imageStarts.Add(1)
	}
	in.mod = mod
	in.record(e, stored)
	running = true
	reply := e.start(stored, in, entry)
	reply.Warning = a.store.disk.takeWarning()
	return reply, nil
}

// start runs e on in, which is ready, on a goroutine of its own; the
// execution now holds stored.
func (e *execution) start(stored *storedModule, in *instance, entry string) *wire.ExecReply {
	a := e.agent
	a.running.Add(1)
	a.engine.running.Add(1)
	a.total.Add(1)
	a.execs.Add(1)
	e.stored = stored
	go e.run(in, entry)
	return &wire.ExecReply{}
}

// entryPoint checks the requested export exists: by default _start, or
// for a reactor built with the Go SDK, the SDK's entry that runs main.
func entryPoint(m wazero.CompiledModule, entry string) (string, error) {
	if entry == "" {
		entry = "_start"
		if _, ok := m.ExportedFunctions()[entry]; !ok {
			if _, ok := m.ExportedFunctions()[abi.GoMainExport]; ok {
				entry = abi.GoMainExport
			}
		}
	}
	f, ok := m.ExportedFunctions()[entry]
	if !ok {
		return "", fmt.Errorf("exec: the module exports no function %q", entry)
	}
	if len(f.ParamTypes()) != 0 {
		return "", fmt.Errorf("exec: export %q takes %d parameters; an entry point takes none", entry, len(f.ParamTypes()))
	}
	return entry, nil
}

// watchMain ends the execution when its client closes the main channel:
// the guest can no longer send its results to anyone, and a guest that
// computes would otherwise run on for nobody (RATIONALE.md, "Why does
// closing a channel stop its guest?").
func (e *execution) watchMain() {
	e.main.WaitClose(e.ctx)
	if e.ctx.Err() == nil && !e.mainH.closed.Load() {
		e.cancel(errMainClosed)
	}
}

// sleep is the guest's nanosleep, and poll_oneoff's wait: real sleeping,
// which ends early when the execution does, so that a guest sleeping for
// an hour can still be stopped. It ends the guest there, as yield ends a
// computing one: returning would let the guest go on as if it had slept,
// and print and exit normally past its limit.
func (e *execution) sleep(ns int64) {
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-e.ctx.Done():
		panic(sys.NewExitError(stopCode(e.ctx)))
	}
}

// moduleConfig gives the guest its arguments, environment, output and
// clocks. By default a guest sees a real monotonic clock and really
// sleeps, but not the time of day (RATIONALE.md, "Why does a guest get a
// real monotonic clock by default?"); WithFakeClock gives it wazero's
// fake clocks, which advance only as the guest reads them.
func moduleConfig(req *wire.ExecRequest, in *instance) (wazero.ModuleConfig, error) {
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithArgs(append([]string{"guest"}, req.Args...)...)
	mc = in.config(mc, req)
	for _, kv := range req.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("exec: environment entry %q is not NAME=VALUE", kv)
		}
		mc = mc.WithEnv(k, v)
	}
	if req.Walltime {
		mc = mc.WithSysWalltime()
	}
	return mc, nil
}

func (e *execution) run(in *instance, entry string) {
	defer e.agent.execs.Done()
	defer e.agent.idle.ended()
	defer e.agent.cfg.execLimit.release()
	defer e.agent.store.release(e.stored)
	defer e.agent.running.Add(-1)
	defer e.agent.engine.running.Add(-1)
	defer e.cancel(nil)
	err := e.call(in, entry)
	e.agent.store.endInstance(e.stored, in, e, err)
	e.closeDirs()
	if err == nil {
		for _, h := range e.handles {
			h.ch.Close()
		}
		return
	}
	msg := e.describe(err)
	if e.agent.ctx.Err() != nil {
		// The client is gone or going: the log is the only place left.
		fmt.Fprintf(e.agent.cfg.log, "wasmnet agent: execution on channel %d: %s\n", e.main.ID(), msg)
	}
	for _, h := range e.handles {
		h.ch.CloseWithError(msg)
	}
}

func (e *execution) call(in *instance, entry string) error {
	mod := in.mod
	if entry != "_start" && (e.image == nil || e.image.snap == nil) {
		if init := mod.ExportedFunction("_initialize"); init != nil {
			e.initing = true
			_, err := init.Call(e.ctx)
			e.initing = false
			if err != nil {
				if e.image != nil {
					e.image.initFailed()
				}
				return err
			}
			if e.image != nil {
				clean := !e.initABI && !e.stderr.wrote.Load() && !e.stdout.wrote.Load()
				e.image.takeSnapshot(mod, clean)
			}
		}
	}
	_, err := in.function(entry).Call(e.ctx)
	var exit *sys.ExitError
	if err == nil || errors.As(err, &exit) && exit.ExitCode() == 0 {
		return e.pastLimit()
	}
	return err
}

// pastLimit is the end of a guest that returned or exited normally: an
// error if its run-time limit passed first. A host call that fails at the
// limit (a receive, a send) returns to the guest, which may then end as
// if nothing happened; it ran out of time all the same.
func (e *execution) pastLimit() error {
	if errors.Is(context.Cause(e.ctx), context.DeadlineExceeded) {
		return sys.NewExitError(sys.ExitCodeDeadlineExceeded)
	}
	return nil
}

// describe turns why a guest ended into the message its client sees.
func (e *execution) describe(err error) string {
	var exit *sys.ExitError
	switch {
	case e.memory.exceeded.Load():
		return fmt.Sprintf("guest exceeded its memory limit of %d MiB: %s", e.memory.limit>>20, firstLine(e.stderr.tail(), err))
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded,
		// A guest blocked in a receive when the limit passed sees the
		// receive fail, and may then exit on its own.
		errors.Is(e.ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("guest exceeded its run-time limit of %v", e.limit)
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeContextCanceled && errors.Is(context.Cause(e.ctx), errMainClosed):
		return "guest stopped: " + errMainClosed.Error()
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeContextCanceled:
		return "guest stopped: the agent is terminating"
	case errors.As(err, &exit):
		if tail := panicText(e.stderr.tail()); tail != "" {
			return fmt.Sprintf("guest exited with status %d: %s", exit.ExitCode(), tail)
		}
		return fmt.Sprintf("guest exited with status %d", exit.ExitCode())
	}
	// A Go reactor that panics ends in unreachable, after printing its
	// panic, which says more than the trap.
	if t := panicText(e.stderr.tail()); strings.HasPrefix(t, "panic: ") {
		return "guest trapped: " + t
	}
	return "guest trapped: " + err.Error()
}

// panicText picks what a guest printed last to stderr, from its Go panic
// line when there is one, so that a RemoteError reads like the panic.
func panicText(stderr string) string {
	if i := strings.LastIndex(stderr, "panic: "); i >= 0 {
		stderr = stderr[i:]
	}
	stderr = strings.TrimSpace(stderr)
	if len(stderr) > 2048 {
		stderr = stderr[:2048] + "..."
	}
	return stderr
}

func firstLine(stderr string, err error) string {
	if t := panicText(stderr); t != "" {
		line, _, _ := strings.Cut(t, "\n")
		return line
	}
	return err.Error()
}
