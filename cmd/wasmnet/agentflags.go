package main

import (
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/wasmnet/wasmnet/host"
)

// agentFlags are the agent settings that `wasmnet agent` and `wasmnet
// serve` share.
type agentFlags struct {
	cacheDir     string
	noCache      bool
	noHops       bool
	noRSync      bool
	noDirGrants  bool
	defaultLimit time.Duration
	storeLimit   sizeFlag
	cacheLimit   sizeFlag
}

func (f *agentFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.cacheDir, "cache-dir", "", "compilation cache directory (default: the user cache directory)")
	fs.BoolVar(&f.noCache, "no-cache", false, "keep compiled modules in memory only")
	fs.BoolVar(&f.noHops, "no-hops", false, "refuse to dial or run commands for via= gateways")
	fs.BoolVar(&f.noRSync, "no-rsync", false, "refuse rsync requests (they write files outside the sandbox)")
	fs.BoolVar(&f.noDirGrants, "no-dir-grants", false, "refuse executions that ask for preopened directories")
	f.storeLimit, f.cacheLimit = 256<<20, 1<<30
	fs.Var(&f.storeLimit, "module-store-limit", "bytes of modules (and their compiled code) kept in memory, least recently used out first (0: no bound)")
	fs.Var(&f.cacheLimit, "cache-limit", "bytes of compiled code kept on disk, least recently used out first (0: no bound)")
	fs.DurationVar(&f.defaultLimit, "default-time-limit", 0, "run-time limit of executions that set none (0: none)")
}

func (f *agentFlags) config() host.Config {
	cfg := host.NewConfig().WithVersion(version).WithLog(os.Stderr)
	if f.cacheDir != "" {
		cfg = cfg.WithCompilationCacheDir(f.cacheDir)
	}
	if f.noCache {
		cfg = cfg.WithoutCompilationCache()
	}
	if f.noHops {
		cfg = cfg.WithoutHops()
	}
	if f.noRSync {
		cfg = cfg.WithoutRSync()
	}
	if f.noDirGrants {
		cfg = cfg.WithoutDirGrants()
	}
	if f.defaultLimit > 0 {
		cfg = cfg.WithDefaultTimeLimit(f.defaultLimit)
	}
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
