package gateway

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/wasmnet/wasmnet/internal/resident"
)

// WithShare sets whether popen gateways whose spec has no share= option
// share agent processes with the other popen gateways of their group (see
// WithSharedAgents). The default is true; false gives every popen gateway
// an agent process of its own, as execnet's popen does (RATIONALE.md,
// "Which gateways share an agent process?").
func WithShare(share bool) Option {
	return func(c *makeConfig) { c.share = &share }
}

// WithSharedAgents sets how many agent processes the popen gateways of the
// group share: the first n gateways start one each, and later ones join the
// process that serves the fewest. Each process compiles a module once and
// instantiates it for each of its gateways, so n bounds what starting and
// fanning out cost; a process that dies loses the gateways it served, and
// only those. The default, DefaultSharedAgents, is one per CPU and at
// least two.
func WithSharedAgents(n int) GroupOption {
	return func(c *groupConfig) { c.sharedAgents = max(1, n) }
}

// DefaultSharedAgents is the number of agent processes a group's popen
// gateways share unless WithSharedAgents says otherwise: one per CPU, on
// which they start in parallel, and at least two, so that one process's
// fault leaves a group of two or more gateways some.
func DefaultSharedAgents() int { return max(2, runtime.NumCPU()) }

// shareChoice says whether a popen gateway of sp joins a shared agent.
func shareChoice(sp Spec, cfg *makeConfig) (bool, error) {
	v, given := sp.Options["share"]
	if !given {
		// A default cannot move the gateway's own directory,
		// environment or priority into a shared process: those keep a
		// process.
		return cfg.agents != nil && (cfg.share == nil || *cfg.share) && !ownProcess(sp), nil
	}
	use, err := parseShare(v)
	if err == nil && use && ownProcess(sp) {
		err = errors.New("share: a shared agent takes no chdir=, env: or nice= (use share=no)")
	}
	return use && cfg.agents != nil, err
}

// parseShare parses the value of the share= option.
func parseShare(v string) (bool, error) {
	switch v {
	case "", "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, fmt.Errorf("share=%s: want yes or no", v)
}

// An AgentLostError is the error of a gateway whose agent process, shared
// with other gateways, died: every gateway that process served is lost.
// The process is a shared agent of this client (the group's next popen
// gateway starts a new one) or, with Resident set, the user's resident
// agent (the next popen//resident gateway starts a new one). It wraps the
// read or write error.
type AgentLostError struct {
	PID      int
	Resident bool
	Err      error
}

func (e *AgentLostError) Error() string {
	what := "shared agent"
	if e.Resident {
		what = "resident agent"
	}
	return fmt.Sprintf("gateway: the %s (pid %d) died: every gateway it served is lost: %v", what, e.PID, e.Err)
}

func (e *AgentLostError) Unwrap() error { return e.Err }

// agentLoss turns the errors of a gateway's connection to an agent process
// that serves other gateways too into an *AgentLostError once the process
// has died, until this side closes the connection.
type agentLoss struct {
	pid      int
	resident bool
	closed   atomic.Bool
}

func (l *agentLoss) lost(err error) error {
	if err == nil {
		// Before errors.As, whose target would be allocated on every read.
		return nil
	}
	// The error of a process that never started says more.
	var se *AgentStartError
	if l.closed.Load() || errors.As(err, &se) || !resident.Exiting(l.pid) {
		return err
	}
	return &AgentLostError{PID: l.pid, Resident: l.resident, Err: err}
}
