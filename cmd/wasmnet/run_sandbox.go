package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/wasmnet/wasmnet/gateway"
)

// sandboxFlags are what `wasmnet run` grants and bounds for every guest,
// named as `wasmtime run` names them. Without them a guest sees no
// directory, no environment variable, no wall clock and no randomness, and
// gets the agent's default limits.
type sandboxFlags struct {
	dirs        []string
	envs        []string
	walltime    bool
	random      bool
	timeLimit   time.Duration
	memoryLimit string
}

func (f *sandboxFlags) register(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.dirs, "dir", nil, "grant the agent's directory HOST to each guest as GUEST, read-only with :ro (HOST[:GUEST][:ro] or HOST::GUEST; repeatable)")
	fl.StringArrayVar(&f.envs, "env", nil, "set NAME=VALUE in each guest's environment; NAME alone passes this process's value (repeatable)")
	fl.BoolVar(&f.walltime, "walltime", false, "grant each guest the real wall clock")
	fl.BoolVar(&f.random, "random", false, "grant each guest real randomness")
	fl.DurationVar(&f.timeLimit, "time-limit", 0, "stop each guest after this run time (default: the agent's)")
	fl.StringVar(&f.memoryLimit, "memory-limit", "", "bound each guest's linear memory (64KiB to 4GiB; default: the agent's, 256MiB)")
}

// execOptions turns the flags into RemoteExec options.
func (f *sandboxFlags) execOptions() ([]gateway.ExecOption, error) {
	var opts []gateway.ExecOption
	for _, d := range f.dirs {
		host, guest, ro, err := parseDirGrant(d)
		if err != nil {
			return nil, err
		}
		opts = append(opts, gateway.WithDir(host, guest, ro))
	}
	for _, e := range f.envs {
		kv, err := envEntry(e)
		if err != nil {
			return nil, err
		}
		opts = append(opts, gateway.WithEnv(kv))
	}
	if f.walltime {
		opts = append(opts, gateway.WithWalltime())
	}
	if f.random {
		opts = append(opts, gateway.WithRandom())
	}
	if f.timeLimit < 0 {
		return nil, fmt.Errorf("--time-limit %v: want a positive duration", f.timeLimit)
	}
	if f.timeLimit > 0 {
		opts = append(opts, gateway.WithTimeLimit(f.timeLimit))
	}
	if f.memoryLimit != "" {
		n, err := parseMemoryLimit(f.memoryLimit)
		if err != nil {
			return nil, err
		}
		opts = append(opts, gateway.WithMemoryLimit(n))
	}
	return opts, nil
}

// parseDirGrant reads HOST, HOST:GUEST, HOST:GUEST:ro or wasmtime's
// HOST::GUEST. Without GUEST the guest sees the directory under the same
// name, as with wasmtime.
func parseDirGrant(s string) (host, guest string, readOnly bool, err error) {
	if h, g, ok := strings.Cut(s, "::"); ok {
		host, guest = h, g
	} else {
		parts := strings.Split(s, ":")
		if n := len(parts); n > 1 && parts[n-1] == "ro" {
			readOnly, parts = true, parts[:n-1]
		}
		switch len(parts) {
		case 1:
			host, guest = parts[0], parts[0]
		case 2:
			host, guest = parts[0], parts[1]
		default:
			return "", "", false, fmt.Errorf("--dir %q: want HOST[:GUEST][:ro]", s)
		}
	}
	if host == "" || guest == "" {
		return "", "", false, fmt.Errorf("--dir %q: want HOST[:GUEST][:ro] with neither path empty", s)
	}
	return host, guest, readOnly, nil
}

// envEntry reads NAME=VALUE, or NAME for this process's value of it.
func envEntry(s string) (string, error) {
	name, _, hasValue := strings.Cut(s, "=")
	if name == "" || strings.ContainsAny(name, "\x00") {
		return "", fmt.Errorf("--env %q: want NAME=VALUE or NAME", s)
	}
	if hasValue {
		return s, nil
	}
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", fmt.Errorf("--env %s: not set here; give its value as %s=VALUE", name, name)
	}
	return name + "=" + v, nil
}

// parseMemoryLimit reads a size such as 65536, 64KiB, 512MiB or 4GiB, at
// least one wasm page and at most the 4 GiB a wasm32 memory can hold.
func parseMemoryLimit(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	num, mult := strings.TrimSpace(s), uint64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 64)
	if err != nil || n > (4<<30)/mult || n*mult < 64<<10 {
		return 0, fmt.Errorf("--memory-limit %q: want 64KiB to 4GiB, such as 512MiB", s)
	}
	return n * mult, nil
}
