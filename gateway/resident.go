package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/wasmnet/wasmnet/internal/resident"
)

// residentTimeout bounds the start of a resident agent by a gateway when
// the caller's ctx allows longer: the starter waits for the start lock
// and for the new agent to listen.
const residentTimeout = 40 * time.Second

// WithResident sets whether popen gateways whose spec has no resident=
// option use the user's resident agent (see the popen type of Spec). The
// default is false: each popen gateway runs an agent process of its own,
// as execnet's popen does (RATIONALE.md, "Why is the resident agent
// opt-in?").
func WithResident(use bool) Option {
	return func(c *makeConfig) { c.resident = &use }
}

// residentChoice says whether a popen gateway of sp uses the resident
// agent, and the idle time to start it with.
func residentChoice(sp Spec, cfg *makeConfig) (use bool, idle time.Duration, err error) {
	v, given := sp.Options["resident"]
	_, shareGiven := sp.Options["share"]
	if !given {
		// A default cannot move the gateway's own directory,
		// environment or priority into a shared process: those keep a
		// process. Nor can it override the process share= chose.
		return cfg.resident != nil && *cfg.resident && !ownProcess(sp) && !shareGiven, resident.DefaultIdle, nil
	}
	use, idle, err = parseResident(v)
	switch {
	case err == nil && use && ownProcess(sp):
		err = errors.New("resident: a resident agent is shared: it takes no chdir=, env: or nice= (use a popen gateway of its own)")
	case err == nil && use && shareGiven:
		// share= would be ignored: the resident agent is the process.
		err = errors.New("resident: give resident= or share=, not both: each chooses the gateway's process")
	}
	return use, idle, err
}

// ownProcess says whether sp asks for what only an agent process of its
// own can give: a working directory, environment or priority.
func ownProcess(sp Spec) bool {
	_, nice := sp.Options["nice"]
	return sp.Chdir != "" || len(sp.Env) > 0 || nice
}

// parseResident parses the value of the resident= option, as OpenSSH's
// ControlPersist: yes (or nothing), no, or the idle time after which the
// agent exits, such as 30m.
func parseResident(v string) (use bool, idle time.Duration, err error) {
	switch v {
	case "", "yes":
		return true, resident.DefaultIdle, nil
	case "no":
		return false, 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return false, 0, fmt.Errorf("resident=%s: want yes, no or an idle time such as 10m", v)
	}
	return true, d, nil
}

// dialResident connects a popen gateway to the user's resident agent of
// the build at the agent path, starting it first if none runs.
func dialResident(ctx context.Context, sp Spec, cfg *makeConfig, idle time.Duration) (*link, error) {
	path, err := localAgent(sp, cfg)
	if err != nil {
		return nil, err
	}
	p, err := residentPaths(path)
	if err != nil {
		return nil, fmt.Errorf("gateway: popen: %w", err)
	}
	c, err := resident.Dial(ctx, p)
	if errors.Is(err, resident.ErrNotRunning) {
		if err = startResident(ctx, path, idle); err == nil {
			c, err = resident.Dial(ctx, p)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: popen: %w", err)
	}
	// Nothing to reap: the agent outlives its gateways, and ends the
	// executions of a gateway whose connection closes.
	conn := &residentConn{Conn: c, loss: agentLoss{pid: c.PID, resident: true}}
	return &link{conn: conn, wait: func() error { return nil }, kill: conn.Close}, nil
}

// residentConn is a connection to the resident agent, whose death it
// reports as a shared agent's is: one error type for a library user to
// match.
type residentConn struct {
	*resident.Conn
	loss agentLoss
}

func (c *residentConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return n, c.loss.lost(err)
}

func (c *residentConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, c.loss.lost(err)
}

func (c *residentConn) Close() error {
	c.loss.closed.Store(true)
	return c.Conn.Close()
}

// residentPaths returns the resident agent's paths for the agent binary
// at path.
func residentPaths(path string) (resident.Paths, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return resident.Paths{}, err
	}
	key, err := resident.Key(fi)
	if err != nil {
		return resident.Paths{}, err
	}
	dir, err := resident.Dir()
	if err != nil {
		return resident.Paths{}, err
	}
	return resident.PathsFor(dir, key), nil
}

// startResident runs `wasmnet agent --resident`, which starts the agent
// unless another client did so first, and returns once it listens.
func startResident(ctx context.Context, path string, idle time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, residentTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "agent", "--resident", "--resident-idle", idle.String())
	cmd.SysProcAttr = procAttr()
	cmd.WaitDelay = 2 * time.Second
	stderr := newTailBuffer(stderrTail)
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("starting the resident agent: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
