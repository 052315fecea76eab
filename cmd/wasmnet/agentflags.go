package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/wasmnet/wasmnet/host"
)

// agentFlags are the agent settings of `wasmnet agent` and `wasmnet serve`.
// The two differ in their defaults: an agent that a user starts for
// themselves (popen, ssh=, exec=) serves its one client everything unless
// told otherwise (--no-hops); serve, which strangers reach over the
// network, serves only guests unless told otherwise (--allow-hops).
type agentFlags struct {
	cacheDir     string
	noCache      bool
	allowHops    bool
	allowRSync   bool
	allowDirs    bool
	noHops       bool
	noRSync      bool
	noDirGrants  bool
	allowCache   bool // cache requests: list and prune the compile cache and uploaded agents
	noCacheReqs  bool
	defaultLimit time.Duration
	benchStop    string // how guests are made stoppable; only bench changes it
	keepAlive    time.Duration
	storeLimit   sizeFlag
	cacheLimit   sizeFlag
	maxMemory    sizeFlag // the largest memory limit a client may ask for
	maxOpenFiles int      // per execution
}

// registerCommon registers the flags `wasmnet agent` and `wasmnet serve`
// share, with the same defaults.
func (f *agentFlags) registerCommon(fs *pflag.FlagSet) {
	fs.StringVar(&f.cacheDir, "cache-dir", "", "compilation cache directory (default: the user cache directory)")
	fs.BoolVar(&f.noCache, "no-cache", false, "keep compiled modules in memory only")
	f.storeLimit, f.cacheLimit = 256<<20, 1<<30
	fs.Var(&f.storeLimit, "module-store-limit", "bytes of modules (and their compiled code) kept in memory, least recently used out first (0: no bound)")
	fs.Var(&f.cacheLimit, "cache-limit", "bytes of compiled code kept on disk, least recently used out first (0: no bound)")
	fs.DurationVar(&f.keepAlive, "keepalive-timeout", host.DefaultKeepAliveTimeout,
		"stop every execution and end the connection when the client is silent this long (0: never)")
	fs.IntVar(&f.maxOpenFiles, "max-open-files", host.DefaultMaxOpenFiles,
		"files and directories one execution may hold open at once; an open past it fails with EMFILE in the guest")
}

// maxOpenFilesBound is the most --max-open-files takes: the executions
// together are bounded by the process's own limit anyway (SECURITY.md).
const maxOpenFilesBound = 1 << 20

// registerAgent registers the flags of `wasmnet agent`: everything is
// allowed unless a --no-* flag refuses it.
func (f *agentFlags) registerAgent(fs *pflag.FlagSet) {
	f.registerCommon(fs)
	f.allowHops, f.allowRSync, f.allowDirs, f.allowCache = true, true, true, true
	fs.BoolVar(&f.noCacheReqs, "no-cache-requests", false, "refuse requests to list or prune the compilation cache and uploaded agents (wasmnet cache)")
	fs.BoolVar(&f.noHops, "no-hops", false, "refuse to dial or run commands for via= gateways")
	fs.BoolVar(&f.noRSync, "no-rsync", false, "refuse rsync requests (they write files outside the sandbox)")
	fs.BoolVar(&f.noDirGrants, "no-dir-grants", false, "refuse executions that ask for preopened directories")
	fs.DurationVar(&f.defaultLimit, "default-time-limit", 0, "run-time limit of executions that set none (0: none)")
	f.maxMemory = 4 << 30
	fs.Var(&f.maxMemory, "max-memory-limit", "the largest memory limit a client may ask for an execution (wasmnet run --memory-limit), up to 4GiB")
	fs.StringVar(&f.benchStop, "bench-stop", "instrument", "how guests are made stoppable: instrument, context-checks, none (for wasmnet bench)")
	fs.MarkHidden("bench-stop")
}

// registerServe registers the flags of `wasmnet serve`: nothing beyond
// running guests is allowed unless an --allow-* flag grants it. The old
// --no-* flags are accepted, as what they ask is now the default.
func (f *agentFlags) registerServe(fs *pflag.FlagSet) {
	f.registerCommon(fs)
	fs.BoolVar(&f.allowHops, "allow-hops", false, "dial TCP addresses and run commands for via= gateways of authenticated clients")
	fs.BoolVar(&f.allowRSync, "allow-rsync", false, "accept rsync requests, which write the client's files on this machine")
	fs.BoolVar(&f.allowDirs, "allow-dir-grants", false, "run executions that ask for directories of this machine (as this user)")
	fs.BoolVar(&f.allowCache, "allow-cache-requests", false, "let clients list and prune this server's compilation cache (wasmnet cache), which holds every client's modules")
	fs.DurationVar(&f.defaultLimit, "default-time-limit", time.Hour, "run-time limit of executions that set none (0: none)")
	// A stranger's execution should not get the whole 4 GiB of a wasm32
	// memory by asking: a few of them would exhaust a server.
	f.maxMemory = 1 << 30
	fs.Var(&f.maxMemory, "max-memory-limit", "the largest memory limit a client may ask for an execution (wasmnet run --memory-limit), up to 4GiB")
	for _, what := range servedExtras {
		fs.Bool("no-"+what, false, "")
		fs.MarkDeprecated("no-"+what, "serve refuses that unless --allow-"+what+" is given")
	}
}

// servedExtras names what an agent may serve beyond running guests, as
// the flags --allow-X and --no-X name it.
var servedExtras = []string{"hops", "rsync", "dir-grants"}

// check refuses settings that contradict each other.
func (f *agentFlags) check(fs *pflag.FlagSet) error {
	for _, what := range servedExtras {
		if fs.Changed("allow-"+what) && fs.Changed("no-"+what) {
			return fmt.Errorf("--allow-%s and --no-%s contradict each other", what, what)
		}
	}
	if f.maxMemory < 64<<10 || f.maxMemory > 4<<30 {
		return fmt.Errorf("--max-memory-limit %s: want 64KiB to 4GiB", f.maxMemory.String())
	}
	if f.maxOpenFiles < 1 || f.maxOpenFiles > maxOpenFilesBound {
		return fmt.Errorf("--max-open-files %d: want 1 to %d", f.maxOpenFiles, maxOpenFilesBound)
	}
	return nil
}

func (f *agentFlags) config() host.Config {
	cfg := host.NewConfig().WithVersion(version).WithLog(os.Stderr)
	if f.cacheDir != "" {
		cfg = cfg.WithCompilationCacheDir(f.cacheDir)
	}
	if f.noCache {
		cfg = cfg.WithoutCompilationCache()
	}
	if !f.allowHops || f.noHops {
		cfg = cfg.WithoutHops()
	}
	if !f.allowRSync || f.noRSync {
		cfg = cfg.WithoutRSync()
	}
	if !f.allowDirs || f.noDirGrants {
		cfg = cfg.WithoutDirGrants()
	}
	if !f.allowCache || f.noCacheReqs {
		cfg = cfg.WithoutCacheRequests()
	}
	if f.defaultLimit > 0 {
		cfg = cfg.WithDefaultTimeLimit(f.defaultLimit)
	}
	switch f.benchStop {
	case "context-checks":
		cfg = cfg.WithStopMechanism(host.StopContextChecks)
	case "none":
		cfg = cfg.WithStopMechanism(host.StopNone)
	}
	cfg = cfg.WithKeepAliveTimeout(f.keepAlive).WithMaxMemoryLimit(uint64(f.maxMemory)).WithMaxOpenFiles(f.maxOpenFiles)
	cfg = cfg.WithModuleStoreLimit(int64(f.storeLimit)).WithCompilationCacheLimit(int64(f.cacheLimit))
	// Checked once here, so that serve says once why it has no disk cache.
	return cfg.ResolveCompilationCache()
}

// sizeFlag is a byte count given as 268435456, 256MiB or 1GiB.
type sizeFlag int64

func (s *sizeFlag) String() string {
	switch n := int64(*s); {
	case n != 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	default:
		return strconv.FormatInt(n, 10)
	}
}

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

func (s *sizeFlag) Type() string { return "size" }
