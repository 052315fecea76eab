package main

import (
	"fmt"
	"os"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// applyNice lowers the agent's priority as its gateway's nice= asked
// (wire.AgentNiceEnv), and takes the request out of the environment so
// that commands run for hops do not apply it again.
func applyNice() error {
	v, ok := os.LookupEnv(wire.AgentNiceEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(wire.AgentNiceEnv)
	n, err := gateway.ParseNice(v)
	if err != nil {
		return fmt.Errorf("agent: %s: %w", wire.AgentNiceEnv, err)
	}
	if n == 0 {
		return nil
	}
	if err := lowerPriority(n); err != nil {
		return fmt.Errorf("agent: nice=%d: %w", n, err)
	}
	return nil
}
