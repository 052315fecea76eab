package gateway

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/wasmnet/wasmnet/internal/wire"
)

// ToolKeyPrefix starts the spec keys wasmnet leaves to tools built on it, as
// execnet keeps unknown keys for pytest-xdist: "popen//x-worker-group=a"
// parses, with Options["x-worker-group"] = "a", and wasmnet ignores it.
const ToolKeyPrefix = "x-"

// Bounds of a tool's key: spec strings come from inventories and command
// lines, and a tool's keys travel wherever the spec does.
const (
	maxToolKey   = 64
	maxToolValue = 4096
)

var errNotToolKey = errors.New("not a tool key")

// checkToolKey reports errNotToolKey for a key without ToolKeyPrefix, and
// checks the form of one with it: lower-case letters, digits, '-' and '_'.
func checkToolKey(key, val string) error {
	if len(key) < len(ToolKeyPrefix) || key[:len(ToolKeyPrefix)] != ToolKeyPrefix {
		return errNotToolKey
	}
	if len(key) == len(ToolKeyPrefix) || len(key) > maxToolKey {
		return fmt.Errorf("option %q: a tool's key is %s and 1 to %d more characters", key, ToolKeyPrefix, maxToolKey-len(ToolKeyPrefix))
	}
	for _, c := range key[len(ToolKeyPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("option %q: a tool's key has lower-case letters, digits, '-' and '_' only", key)
		}
	}
	if len(val) > maxToolValue {
		return fmt.Errorf("option %q: value of %d bytes, more than %d", key, len(val), maxToolValue)
	}
	return nil
}

func (sp *Spec) setExtra(key, val string) {
	if sp.Options == nil {
		sp.Options = map[string]string{}
	}
	sp.Options[key] = val
}

// execnetOnlyKeys are execnet's keys that mean nothing to wasmnet, with
// what to write instead.
var execnetOnlyKeys = map[string]string{
	"python":              "wasmnet agents run WebAssembly, not a Python interpreter: drop python=",
	"execmodel":           "wasmnet has one execution model (a goroutine per execution): drop execmodel=",
	"dont_write_bytecode": "wasmnet agents write no bytecode: drop dont_write_bytecode",
}

// maxNice is the most a spec may lower an agent's priority by; raising it
// (a negative nice) needs privileges an agent should not run with.
const maxNice = 19

// checkOptions checks the values of the type-specific keys, which a spec
// string, untrusted input, may set to anything.
func (sp *Spec) checkOptions() error {
	if v, ok := sp.Options["nice"]; ok {
		if _, err := ParseNice(v); err != nil {
			return err
		}
	}
	if v, ok := sp.Options["ssh_config"]; ok {
		if err := checkRegularFile("ssh_config", v); err != nil {
			return err
		}
	}
	if v, ok := sp.Options["installvia"]; ok && v == "" {
		return errors.New("option installvia needs a gateway id")
	}
	return nil
}

// agentEnv is the environment a spec gives its agent: its env: entries,
// and the request of nice= (which the agent applies to itself, so that a
// popen, ssh= and via= agent are lowered alike, without a nice(1) on PATH).
func (sp Spec) agentEnv() []string {
	env := slices.Clone(sp.Env)
	if v, ok := sp.Options["nice"]; ok {
		env = append(env, wire.AgentNiceEnv+"="+v)
	}
	return env
}

// ParseNice parses the value of nice=: an integer from 0 to 19.
func ParseNice(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxNice {
		return 0, fmt.Errorf("option nice=%q: want an integer from 0 to %d (how much to lower the agent's priority)", v, maxNice)
	}
	return n, nil
}

// checkRegularFile checks that path, the value of key, names a regular
// file, so that a typo fails when the spec is parsed.
func checkRegularFile(key, path string) error {
	if path == "" {
		return fmt.Errorf("option %s needs a file", key)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("option %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("option %s: %s is not a regular file", key, path)
	}
	return nil
}
