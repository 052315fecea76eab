package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// startPopen starts a local agent process, `wasmnet agent`, speaking the
// protocol on its stdin and stdout.
func startPopen(ctx context.Context, sp Spec, cfg *makeConfig) (*link, error) {
	use, idle, err := residentChoice(sp, cfg)
	if err != nil {
		return nil, fmt.Errorf("gateway: popen: %w", err)
	}
	if use {
		return dialResident(ctx, sp, cfg, idle)
	}
	path, err := localAgent(sp, cfg)
	if err != nil {
		return nil, err
	}
	share, err := shareChoice(sp, cfg)
	if err != nil {
		return nil, fmt.Errorf("gateway: popen: %w", err)
	}
	if share {
		return cfg.agents.open(ctx, path)
	}
	if sp.Chdir != "" {
		if err := os.MkdirAll(sp.Chdir, 0o755); err != nil {
			return nil, fmt.Errorf("gateway: popen: chdir: %w", err)
		}
	}
	l, err := startProcess(ctx, []string{path, "agent"}, append(os.Environ(), sp.agentEnv()...), sp.Chdir)
	if err != nil {
		return nil, fmt.Errorf("gateway: popen: %w", err)
	}
	return l, nil
}

// localAgent finds the wasmnet binary to run as a local agent.
func localAgent(sp Spec, cfg *makeConfig) (string, error) {
	if p := sp.Options["agent"]; p != "" {
		return p, nil
	}
	if cfg.agentPath != "" {
		return cfg.agentPath, nil
	}
	if p := localAgentBinary(os.Executable()); p != "" {
		return p, nil
	}
	return "", errors.New("gateway: popen: no wasmnet agent binary: put wasmnet on PATH, set $WASMNET_AGENT, or pass //agent=PATH")
}
