package host

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/wasmnet/wasmnet/internal/trace"
)

// Config tunes an agent. It is immutable: each WithX returns a changed
// copy, so a Config can be shared.
//
//	cfg := host.NewConfig().WithCompilationCacheDir(dir).WithDefaultMemoryLimit(64 << 20)
type Config struct {
	version            string
	cacheDir           string
	noCache            bool
	cacheLimit         int64
	storeLimit         int64
	defaultMemoryLimit uint64
	maxMemoryLimit     uint64
	defaultTimeLimit   time.Duration
	maxMessage         int
	window             int
	allowHops          bool
	allowDirGrants     bool
	allowRSync         bool
	allowCacheRequests bool
	debugInfo          bool
	stop               StopMechanism
	keepAliveTimeout   time.Duration
	log                io.Writer
	execLimit          *ExecutionLimit // shared by the agents of one server; nil: none
	helloTimeout       time.Duration
	maxOpenFiles       int           // per execution; WithMaxOpenFiles, in openfiles.go
	files              *fileBudget   // shared by the agents made from one Config; nil: none
	trace              *trace.Tracer // WithTrace, in trace.go
	engine             *Engine       // WithEngine, in engine.go; nil: Serve makes its own
	tenant             string        // WithTenant, in engine.go
}

// NewConfig returns the defaults: compilation cache in the user cache
// directory, 256 MiB of memory per instance (at most 4 GiB on request), no
// run-time limit unless the client sets one, 64 MiB messages, 4 MiB
// channel windows, hop primitives, directory grants and rsync allowed,
// compiled modules kept up to 256 MiB in memory and 1 GiB on disk.
func NewConfig() Config {
	return Config{
		version:            "dev",
		cacheLimit:         1 << 30,
		storeLimit:         256 << 20,
		defaultMemoryLimit: 256 << 20,
		maxMemoryLimit:     4 << 30,
		maxMessage:         64 << 20,
		window:             4 << 20,
		allowHops:          true,
		allowDirGrants:     true,
		allowRSync:         true,
		allowCacheRequests: true,
		keepAliveTimeout:   DefaultKeepAliveTimeout,
		log:                io.Discard,
		helloTimeout:       30 * time.Second,
		maxOpenFiles:       DefaultMaxOpenFiles,
		files:              processFileBudget(),
	}
}

// WithVersion sets the agent version reported in the hello and status.
func (c Config) WithVersion(v string) Config { c.version = v; return c }

// WithCompilationCacheDir keeps compiled machine code in dir, so that a new
// agent process does not compile a module again. The default is
// wasmnet/compile in the user cache directory, or, without one (neither
// HOME nor XDG_CACHE_HOME set), wasmnet-UID/compile in the temporary
// directory. The directory is made 0700 and used only if no other user can
// write to it or to a directory above it (PrivateDir).
func (c Config) WithCompilationCacheDir(dir string) Config { c.cacheDir = dir; return c }

// WithCompilationCacheLimit bounds the disk cache: after a compilation,
// the cache files used least recently are removed until the directory
// holds at most bytes. Zero means no bound. Default 1 GiB. The directory
// may be shared by every agent of the user; each keeps it within its own
// bound.
func (c Config) WithCompilationCacheLimit(bytes int64) Config { c.cacheLimit = bytes; return c }

// WithModuleStoreLimit bounds the modules an agent keeps in memory, their
// bytes and their compiled code (estimated at four times their size): the
// module used least recently is dropped first, and a client that runs it
// again uploads it again. Modules in use are kept, so an agent may exceed
// the bound by the modules running at once. Zero means no bound. Default
// 256 MiB.
func (c Config) WithModuleStoreLimit(bytes int64) Config { c.storeLimit = bytes; return c }

// WithoutCompilationCache compiles every module in memory only.
func (c Config) WithoutCompilationCache() Config { c.noCache = true; return c }

// WithDefaultMemoryLimit sets the memory an instance may use when the
// client asks for no limit. Default 256 MiB.
func (c Config) WithDefaultMemoryLimit(bytes uint64) Config { c.defaultMemoryLimit = bytes; return c }

// WithMaxMemoryLimit caps what a client may ask for. Default 4 GiB, the
// most a wasm32 memory can hold.
func (c Config) WithMaxMemoryLimit(bytes uint64) Config { c.maxMemoryLimit = bytes; return c }

// WithDefaultTimeLimit bounds the run time of executions whose client set
// no limit. Default: none.
func (c Config) WithDefaultTimeLimit(d time.Duration) Config { c.defaultTimeLimit = d; return c }

// WithMaxMessage sets the largest message in bytes. Default 64 MiB.
func (c Config) WithMaxMessage(n int) Config { c.maxMessage = n; return c }

// WithWindow sets each channel's flow-control window. Default 4 MiB.
func (c Config) WithWindow(n int) Config { c.window = n; return c }

// WithoutHops refuses the dial and command requests that via= gateways use.
func (c Config) WithoutHops() Config { c.allowHops = false; return c }

// WithoutDirGrants refuses executions that ask for preopened directories.
func (c Config) WithoutDirGrants() Config { c.allowDirGrants = false; return c }

// WithoutRSync refuses the rsync request, which writes a client's files
// into the agent's file system outside any sandbox.
func (c Config) WithoutRSync() Config { c.allowRSync = false; return c }

// WithoutCacheRequests refuses the cache request, which lists the modules
// compiled on this machine (by any client) and can remove them.
func (c Config) WithoutCacheRequests() Config { c.allowCacheRequests = false; return c }

// WithDebugInfo reads guests' DWARF sections, so that the stack trace of a
// trap names source files and lines. Default: off, because wazero then
// resolves lines at every guest exit, a normal one too (RATIONALE.md).
// Modules instrumented for stopping ([StopInstrument], the default) lose
// their DWARF sections, whose code offsets the rewrite changes; their
// traps name functions only.
func (c Config) WithDebugInfo() Config { c.debugInfo = true; return c }

// WithStopMechanism chooses how computing guests are made stoppable.
// Default [StopInstrument]; the others exist to be measured against it.
func (c Config) WithStopMechanism(m StopMechanism) Config { c.stop = m; return c }

// DefaultKeepAliveTimeout is how long an agent lets its client be silent.
const DefaultKeepAliveTimeout = time.Minute

// WithKeepAliveTimeout sets how long the client may be silent before the
// agent takes it for gone, stops every execution and ends the connection:
// a suspended client or a cut path must not leave guests running for as
// long as TCP keeps a dead session. The client pings often enough (the
// agent announces the timeout in its hello). Default DefaultKeepAliveTimeout;
// zero disables it.
func (c Config) WithKeepAliveTimeout(d time.Duration) Config { c.keepAliveTimeout = d; return c }

// WithLog sends the agent's diagnostics to w. Default: discarded.
func (c Config) WithLog(w io.Writer) Config { c.log = w; return c }

// ResolveCompilationCache decides now where compiled code is kept on disk:
// the directory is created and checked as PrivateDir does. If it cannot be
// used, the reason goes to the log and the Config returned has no disk
// cache. Every agent checks its cache directory when it starts, and says
// why it runs without one; a program that starts many agents from one
// Config (wasmnet serve) calls this first, so that the reason is said once.
func (c Config) ResolveCompilationCache() Config {
	dir := c.compilationCacheDir()
	if dir == "" {
		return c
	}
	if err := PrivateDir(dir); err != nil {
		fmt.Fprintf(c.log, "wasmnet agent: running without a compilation cache on disk: %v\n", err)
		return c.WithoutCompilationCache()
	}
	return c.WithCompilationCacheDir(dir)
}

// compilationCacheDir returns the disk cache directory, or "" for none.
func (c Config) compilationCacheDir() string {
	switch {
	case c.noCache:
		return ""
	case c.cacheDir != "":
		return c.cacheDir
	}
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "wasmnet", "compile")
	}
	return filepath.Join(os.TempDir(), "wasmnet-"+currentUID(), "compile")
}

func currentUID() string { return strconv.Itoa(os.Getuid()) }
