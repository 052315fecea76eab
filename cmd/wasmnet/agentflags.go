package main

import (
	"os"
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
	benchStop    string // how guests are made stoppable; only bench changes it
}

func (f *agentFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.cacheDir, "cache-dir", "", "compilation cache directory (default: the user cache directory)")
	fs.BoolVar(&f.noCache, "no-cache", false, "keep compiled modules in memory only")
	fs.BoolVar(&f.noHops, "no-hops", false, "refuse to dial or run commands for via= gateways")
	fs.BoolVar(&f.noRSync, "no-rsync", false, "refuse rsync requests (they write files outside the sandbox)")
	fs.BoolVar(&f.noDirGrants, "no-dir-grants", false, "refuse executions that ask for preopened directories")
	fs.DurationVar(&f.defaultLimit, "default-time-limit", 0, "run-time limit of executions that set none (0: none)")
	fs.StringVar(&f.benchStop, "bench-stop", "instrument", "how guests are made stoppable: instrument, context-checks, none (for wasmnet bench)")
	fs.MarkHidden("bench-stop")
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
	switch f.benchStop {
	case "context-checks":
		cfg = cfg.WithStopMechanism(host.StopContextChecks)
	case "none":
		cfg = cfg.WithStopMechanism(host.StopNone)
	}
	return cfg
}
