package host

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Config tunes an agent. It is immutable: each WithX returns a changed
// copy, so a Config can be shared.
//
//	cfg := host.NewConfig().WithCompilationCacheDir(dir).WithDefaultMemoryLimit(64 << 20)
type Config struct {
	version            string
	cacheDir           string
	noCache            bool
	defaultMemoryLimit uint64
	maxMemoryLimit     uint64
	defaultTimeLimit   time.Duration
	maxMessage         int
	window             int
	allowHops          bool
	allowDirGrants     bool
	allowRSync         bool
	debugInfo          bool
	stop               StopMechanism
	log                io.Writer
}

// NewConfig returns the defaults: compilation cache in the user cache
// directory, 256 MiB of memory per instance (at most 4 GiB on request), no
// run-time limit unless the client sets one, 64 MiB messages, 4 MiB
// channel windows, hop primitives, directory grants and rsync allowed.
func NewConfig() Config {
	return Config{
		version:            "dev",
		defaultMemoryLimit: 256 << 20,
		maxMemoryLimit:     4 << 30,
		maxMessage:         64 << 20,
		window:             4 << 20,
		allowHops:          true,
		allowDirGrants:     true,
		allowRSync:         true,
		log:                io.Discard,
	}
}

// WithVersion sets the agent version reported in the hello and status.
func (c Config) WithVersion(v string) Config { c.version = v; return c }

// WithCompilationCacheDir keeps compiled machine code in dir, so that a new
// agent process does not compile a module again. The default is
// wasmnet/compile in the user cache directory.
func (c Config) WithCompilationCacheDir(dir string) Config { c.cacheDir = dir; return c }

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

// WithLog sends the agent's diagnostics to w. Default: discarded.
func (c Config) WithLog(w io.Writer) Config { c.log = w; return c }

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
