//go:build !linux

package gateway

import "context"

// agentPool would hold the agent processes a group's popen gateways share;
// it needs Linux (SCM_RIGHTS and /proc to tell a lost process), so every
// popen gateway elsewhere runs an agent process of its own.
type agentPool struct{}

func newAgentPool(max int) *agentPool { return nil }

func (p *agentPool) open(ctx context.Context, path string) (*link, error) {
	panic("gateway: no shared agents on this system")
}
