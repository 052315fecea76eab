package host

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
)

// Engine is the compiled state an agent process keeps for every connection
// it serves: one wazero runtime, one module store with its images,
// snapshots and kept instances, and the disk cache. A Serve given an
// Engine ([Config.WithEngine]) instantiates a module another connection
// compiled at the cost of an instance (RATIONALE.md, "Why does one engine
// serve every connection of a process?").
//
// What an Engine keeps is keyed by everything that shaped it, and what one
// tenant ([Config.WithTenant]) made for itself never serves another: a
// module counts as known to a named tenant only once that tenant sent its
// bytes;
// kept instances and reused memories go back to the tenant whose
// executions left them; a reactor's snapshot is taken and used only under
// the engine's default memory limit and clocks, where it depends on
// nothing but the module and the agent's build.
//
// The settings that shape compiled code and images are the Engine's own,
// taken from the Config given to NewEngine: the compilation cache, the
// module store's limit, the stop mechanism, debug information and the
// largest memory. A Serve using the Engine applies its own Config's
// limits and grants to each execution.
//
// An Engine is safe for use by many Serve calls at once. Close it after
// the last of them has returned.
type Engine struct {
	cfg      Config
	runtimes *runtimes
	store    *moduleStore

	// running counts the executions of every connection, so that the
	// memory kept for the next execution is given back only when the
	// whole process is idle.
	running atomic.Int64
	idle    *idleRelease

	closeOnce sync.Once
	closeErr  error
}

// NewEngine makes the runtime and module store that Serve calls given
// cfg.WithEngine share. ctx bounds only the making.
func NewEngine(ctx context.Context, cfg Config) (*Engine, error) {
	// DWARF stays off unless asked for: with it, every guest exit (a
	// normal proc_exit too) resolves source lines for a stack trace
	// nobody reads, which cost a C echo guest ~2 ms per execution.
	rc := wazero.NewRuntimeConfigCompiler().
		WithDebugInfoEnabled(cfg.debugInfo).
		WithMemoryLimitPages(uint32(min(cfg.maxMemoryLimit/65536, 65536)))
	cacheDir := cfg.compilationCacheDir()
	if cacheDir != "" {
		if err := PrivateDir(cacheDir); err != nil {
			fmt.Fprintf(cfg.log, "wasmnet agent: running without a compilation cache on disk: %v\n", err)
			cacheDir = ""
		}
	}
	if cacheDir != "" {
		if cache, err := wazero.NewCompilationCacheWithDir(cacheDir); err == nil {
			rc = rc.WithCompilationCache(cache)
		} else {
			fmt.Fprintf(cfg.log, "wasmnet agent: no compilation cache: %v\n", err)
			cacheDir = ""
		}
	}
	rt, err := newRuntime(ctx, rc, cfg.stop)
	if err != nil {
		return nil, err
	}
	rts := &runtimes{rt: rt, stop: cfg.stop, config: runtimeConfig(rc, cfg.stop)}
	e := &Engine{cfg: cfg, runtimes: rts, store: newModuleStore(rts, cacheDir, cfg)}
	e.idle = newIdleRelease(&e.running, e.store.releaseKept)
	return e, nil
}

// Close stops the release of idle memory, closes the runtime (and with it
// every instance still open) and the module store. Executions of Serve
// calls still running fail. Close is idempotent.
func (e *Engine) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.idle.stop()
		if err := e.runtimes.rt.Close(ctx); err != nil {
			e.closeErr = fmt.Errorf("host: close engine: %w", err)
		}
		e.store.close()
	})
	return e.closeErr
}

// WithEngine makes Serve use e (shared with other Serve calls) instead of
// an engine of its own, which it would make from this Config and close
// when it returns. The settings that shape compiled code are e's (see
// [Engine]); the rest are this Config's.
func (c Config) WithEngine(e *Engine) Config { c.engine = e; return c }

// WithTenant names who the connection serves (for wasmnet serve, the
// fingerprint of the key the client authenticated with). Kept instances,
// reused memories and state made under non-default options never cross
// tenants, and a module is run for a tenant only after that tenant sent
// its bytes, so that no tenant learns what another runs. The default
// tenant, "", is the user who owns the process and its compilation cache
// (popen and ssh agents): it may run any module the engine holds or finds
// on disk, which that user can read anyway.
func (c Config) WithTenant(tenant string) Config { c.tenant = tenant; return c }
