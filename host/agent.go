package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/abi"
	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/rss"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// agent is the state of one Serve call.
type agent struct {
	cfg       Config
	engine    *Engine
	ownEngine bool // made by Serve for this connection alone
	runtimes  *runtimes
	store     *moduleStore
	mux       *channel.Mux
	muxReady  chan struct{} // closed once mux is set
	started   time.Time

	ctx           context.Context // ends every execution
	terminate     context.CancelFunc
	goodbye       atomic.Bool // the client asked the agent to terminate
	execs         sync.WaitGroup
	memory        memoryPools // linear memories of ended executions, for reuse
	running       atomic.Int64
	total         atomic.Int64
	imageStarts   atomic.Int64 // executions restored from a reactor's snapshot
	keptStarts    atomic.Int64 // executions run on an instance kept from an earlier one
	idle          *idleRelease // the engine's
	uploads       atomic.Int64 // modules this connection sent
	uploadedBytes atomic.Int64
	relay         traceRelay // the trace lines sent to the client, when it asks
}

// Serve runs the agent on conn until the client goes away, asks it to
// terminate, or ctx ends. It then stops every execution and closes conn.
// A client that closes the connection is a normal end: Serve returns nil.
func Serve(ctx context.Context, conn io.ReadWriteCloser, cfg Config) error {
	a, err := newAgent(ctx, cfg)
	if err != nil {
		conn.Close()
		return err
	}
	defer a.close()
	cwd, exe := whereAmI()
	helloCtx, cancelHello := context.WithTimeout(ctx, cfg.helloTimeout)
	defer cancelHello()
	a.mux, err = channel.NewMux(helloCtx, conn, channel.RoleAgent, &channel.Config{
		Window:           cfg.window,
		MaxFrame:         cfg.maxMessage,
		KeepAliveTimeout: cfg.keepAliveTimeout,
		Handler:          a,
		Info: channel.Info{
			Version: cfg.version, OS: runtime.GOOS, Arch: runtime.GOARCH, PID: os.Getpid(),
			Cwd: cwd, Executable: exe,
			ABI:    []int{abi.Version},
			Limits: map[string]int64{"memory": int64(cfg.maxMemoryLimit), "message": int64(cfg.maxMessage)},
		},
	})
	if err != nil {
		a.terminate()
		return fmt.Errorf("host: %w", err)
	}
	close(a.muxReady)
	select {
	case <-a.mux.Done():
	case <-a.ctx.Done():
	}
	a.terminate()
	a.relay.finish(time.Second)
	a.mux.Close()
	a.relay.wait()
	a.waitExecutions(time.Second)
	// After the client's goodbye its side may close before the agent has
	// written the ends of its executions: a write failing then is no fault.
	if err := a.mux.Err(); err != nil && !a.goodbye.Load() && !errors.Is(err, io.EOF) && !errors.Is(err, channel.ErrMuxClosed) {
		return fmt.Errorf("host: %w", err)
	}
	return nil
}

func newAgent(ctx context.Context, cfg Config) (*agent, error) {
	eng, own := cfg.engine, false
	if eng == nil {
		var err error
		if eng, err = NewEngine(ctx, cfg); err != nil {
			return nil, err
		}
		own = true
	}
	a := &agent{
		cfg:       cfg,
		engine:    eng,
		ownEngine: own,
		runtimes:  eng.runtimes,
		store:     eng.store,
		idle:      eng.idle,
		started:   time.Now(),
		muxReady:  make(chan struct{}),
	}
	a.ctx, a.terminate = context.WithCancel(ctx)
	return a, nil
}

// close releases what the agent holds of its engine: all of it when the
// engine is its own, else its reused memories only.
func (a *agent) close() {
	if a.ownEngine {
		a.engine.Close(context.Background())
	}
	a.memory.close() // after a runtime of its own closed the last instances
}

// waitExecutions waits a little for the executions to notice the end of
// a.ctx: a guest blocked in the ABI stops at once, one computing at its
// next call into the host (instrumented modules make one every few
// thousand steps).
func (a *agent) waitExecutions(limit time.Duration) {
	done := make(chan struct{})
	go func() {
		a.execs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(limit):
		fmt.Fprintf(a.cfg.log, "wasmnet agent: %d executions still running at exit\n", a.running.Load())
	}
}

// ServeRequest implements channel.Handler. A panic while serving (a bug,
// or a module that trips one in the runtime) fails that request only: the
// agent and its other executions go on.
func (a *agent) ServeRequest(ctx context.Context, m *channel.Mux, kind uint8, body []byte) (out []byte, err error) {
	// The mux serves requests as soon as its hello is done, a moment
	// before NewMux has returned it to Serve.
	<-a.muxReady
	defer a.traceRequest(kind, body, time.Now(), &err)
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(a.cfg.log, "wasmnet agent: panic serving request %d: %v\n%s", kind, r, debug.Stack())
			out, err = nil, fmt.Errorf("internal error in the agent: %v", r)
		}
	}()
	switch kind {
	case wire.KindExec:
		var req wire.ExecRequest
		if err := channel.UnmarshalInto(body, &req); err != nil {
			return nil, fmt.Errorf("exec: malformed request: %w", err)
		}
		reply, err := a.exec(ctx, &req)
		if err != nil {
			return nil, err
		}
		return msgpack.Marshal(reply)
	case wire.KindModule:
		var up wire.ModuleUpload
		if err := channel.UnmarshalInto(body, &up); err != nil {
			return nil, fmt.Errorf("module upload: malformed request: %w", err)
		}
		a.uploads.Add(1)
		a.uploadedBytes.Add(int64(len(up.Bytes)))
		return nil, a.store.add(ctx, a.cfg.tenant, up.Module, up.Bytes)
	case wire.KindStatus:
		return msgpack.Marshal(a.status())
	case wire.KindTerminate:
		a.goodbye.Store(true)
		a.terminate()
		return nil, nil
	case wire.KindDial:
		return nil, a.dial(body)
	case wire.KindCommand:
		return nil, a.command(body)
	case wire.KindRSync:
		return nil, a.rsync(body)
	case wire.KindTraceOn:
		a.startRelay()
		return nil, nil

	case wire.KindCache:
		return a.cacheRequest(body)
	}
	return nil, fmt.Errorf("unknown request kind %d", kind)
}

func (a *agent) status() wire.Status {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cwd, exe := whereAmI()
	st := wire.Status{
		Version:       a.cfg.version,
		OS:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		PID:           os.Getpid(),
		Cwd:           cwd,
		Executable:    exe,
		ABI:           []int{abi.Version},
		Channels:      a.mux.NumChannels(),
		Executing:     int(a.running.Load()),
		Executions:    a.total.Load(),
		ModulesCached: a.store.countFor(a.cfg.tenant),
		ModuleUploads: a.uploads.Load(),
		UploadedBytes: a.uploadedBytes.Load(),
		RSS:           residentBytes(),
		HeapAlloc:     int64(ms.HeapAlloc),
		UptimeNanos:   int64(time.Since(a.started)),
		ImageStarts:   a.imageStarts.Load(),
		KeptStarts:    a.keptStarts.Load(),
	}
	// The store's counters and cache tell what every connection of the
	// engine compiled: only the cache's owner sees them.
	if a.cfg.tenant == "" {
		st.Compilations = a.store.compilations.Load()
		st.CacheLoads = a.store.cacheLoads.Load()
		st.CompileCache = a.store.cacheDir
	}
	return st
}

// whereAmI returns the agent's working directory and executable, each ""
// where it cannot be told.
func whereAmI() (cwd, exe string) {
	cwd, _ = os.Getwd()
	exe, _ = os.Executable()
	return cwd, exe
}

// residentBytes is the agent's resident memory; 0 where there is no /proc.
func residentBytes() int64 {
	n, _ := rss.Self()
	return n
}
