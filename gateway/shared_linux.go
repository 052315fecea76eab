package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmnet/wasmnet/internal/resident"
	"github.com/wasmnet/wasmnet/internal/shared"
)

// agentPool holds the agent processes that a group's popen gateways share,
// by agent binary. Each gateway's connection is a socketpair, one end of
// which the process receives over its control connection (internal/shared).
type agentPool struct {
	max int // processes per agent binary

	mu    sync.Mutex
	procs map[string][]*sharedAgent // those that take gateways
}

func newAgentPool(max int) *agentPool {
	return &agentPool{max: max, procs: map[string][]*sharedAgent{}}
}

// sharedAgent is one process of a pool.
type sharedAgent struct {
	path   string
	cmd    *exec.Cmd
	ctl    *net.UnixConn
	w      *waiter
	stderr *tailBuffer
	// gateways counts the gateways it serves, under the pool's mu; at
	// zero it has left the pool and ends.
	gateways int
	// sendMu makes one send on ctl at a time, each under its own write
	// deadline.
	sendMu sync.Mutex
	// served is set once the process has said hello to a gateway: from
	// then on its end is the loss of its gateways, not a failed start.
	served atomic.Bool
}

// open connects a new gateway to a shared agent of the binary at path,
// starting one if the pool has fewer than max.
func (p *agentPool) open(ctx context.Context, path string) (*link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := p.acquire(path)
	if err != nil {
		return nil, err
	}
	l, err := a.connect(ctx, p)
	if err != nil {
		p.release(a, new(bool))
		return nil, err
	}
	return l, nil
}

// acquire returns the process the next gateway joins, counted in: a new
// one while there are fewer than max, else the one serving fewest.
func (p *agentPool) acquire(path string) (*sharedAgent, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A process that ended, or is stopped (SIGSTOP, a debugger), takes
	// no more gateways: one sent to it would wait for its hello until
	// its deadline. Those it serves keep it.
	live := p.procs[path][:0]
	for _, a := range p.procs[path] {
		if a.takesGateways() {
			live = append(live, a)
		}
	}
	p.procs[path] = live
	if len(live) < p.max {
		a, err := startShared(path)
		if err != nil {
			return nil, err
		}
		p.procs[path] = append(live, a)
		a.gateways++
		return a, nil
	}
	least := live[0]
	for _, a := range live[1:] {
		if a.gateways < least.gateways {
			least = a
		}
	}
	least.gateways++
	return least, nil
}

// release counts a gateway out of a, once: released, guarded by the pool's
// mu, says whether it was. It reports whether the gateway was the last: a
// then leaves the pool, and its caller ends it.
func (p *agentPool) release(a *sharedAgent, released *bool) (last bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if *released {
		return false
	}
	*released = true
	if a.gateways--; a.gateways > 0 {
		return false
	}
	p.removeLocked(a)
	// It ends once every connection it received has; a gateway whose
	// start failed may not have been sent one, and it must not wait.
	a.ctl.Close()
	return true
}

// retireIfAlone reports whether a serves no gateway but the caller's (which
// released its count or not), and if so takes a out of the pool, so that
// no gateway joins it as the caller kills it.
func (p *agentPool) retireIfAlone(a *sharedAgent, released *bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	others := a.gateways
	if !*released {
		others--
	}
	if others > 0 {
		return false
	}
	p.removeLocked(a)
	return true
}

// removeLocked takes a out of the pool: no gateway joins it from now on.
func (p *agentPool) removeLocked(a *sharedAgent) {
	list := p.procs[a.path]
	for i, b := range list {
		if b == a {
			p.procs[a.path] = append(list[:i:i], list[i+1:]...)
			return
		}
	}
}

// startShared starts `wasmnet agent --shared` at path, in the client's
// directory and environment, as a popen agent of its own would be.
func startShared(path string) (*sharedAgent, error) {
	ctl, give, err := shared.Pair()
	if err != nil {
		return nil, fmt.Errorf("gateway: popen: %w", err)
	}
	defer give.Close()
	cmd := exec.Command(path, "agent", "--shared")
	if cmd.Err != nil {
		ctl.Close()
		return nil, fmt.Errorf("gateway: popen: start %s: %w", path, cmd.Err)
	}
	cmd.ExtraFiles = []*os.File{give} // shared.ControlFD
	cmd.SysProcAttr = procAttr()
	cmd.WaitDelay = 2 * time.Second
	stderr := newTailBuffer(stderrTail)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		ctl.Close()
		return nil, fmt.Errorf("gateway: popen: start %s: %w", path, err)
	}
	a := &sharedAgent{path: path, cmd: cmd, ctl: ctl, stderr: stderr, w: newWaiter(cmd.Wait)}
	// Reaped as soon as it ends, so that the pool sees it gone; this
	// goroutine ends with the process, which ends with its last gateway
	// (release) or with this client (Pdeathsig).
	go a.w.wait()
	return a, nil
}

// takesGateways reports whether a's process may be sent another gateway:
// it has not ended, is not ending and is not stopped.
func (a *sharedAgent) takesGateways() bool {
	if a.reaped() {
		return false
	}
	exiting, stopped := resident.State(a.cmd.Process.Pid)
	return !exiting && !stopped
}

// reaped reports whether a's process has been waited for.
func (a *sharedAgent) reaped() bool {
	select {
	case <-a.w.done:
		return true
	default:
		return false
	}
}

// exited reports whether a's process has ended or is ending.
func (a *sharedAgent) exited() bool {
	return a.reaped() || resident.Exiting(a.cmd.Process.Pid)
}

// connect sends a the agent's end of a new connection and returns the
// gateway's link over the other end.
func (a *sharedAgent) connect(ctx context.Context, p *agentPool) (*link, error) {
	keep, give, err := shared.Pair()
	if err != nil {
		return nil, fmt.Errorf("gateway: popen: %w", err)
	}
	startCheck := a.w.startCheck(a.path+" agent --shared", a.stderr)
	// Whether an end before the hello was a failed start: not while the
	// process lives (this side closed the connection: its hello timed
	// out), which need not be waited for, nor once the process served a
	// gateway (then it is lost, and lost says so).
	check := func() error {
		if a.served.Load() || !resident.Exiting(a.cmd.Process.Pid) {
			return io.EOF
		}
		return startCheck()
	}
	err = a.send(ctx, give)
	give.Close()
	if err != nil {
		keep.Close()
		// An agent that exited at once closed its end before this
		// gateway's connection reached it: say why it exited.
		if serr := check(); serr != io.EOF {
			return nil, serr
		}
		return nil, fmt.Errorf("gateway: popen: shared agent (pid %d): %w", a.cmd.Process.Pid, err)
	}
	sc := &startCheckReader{r: keep, check: check}
	conn := &sharedConn{UnixConn: keep, r: sc, w: &startCheckWriter{w: keep, sc: sc}, served: &a.served}
	conn.loss.pid = a.cmd.Process.Pid
	// Whether this gateway was counted out of a, under the pool's mu: the
	// count and it must be read together, or a kill could count out a
	// gateway that had just joined.
	released := new(bool)
	wait := func() error {
		if p.release(a, released) {
			return a.w.wait()
		}
		if resident.Exiting(conn.loss.pid) {
			return a.w.wait()
		}
		return nil
	}
	kill := func() error {
		conn.Close()
		// A process that serves other gateways goes on for them; one
		// that serves this gateway alone is this gateway's agent.
		if p.retireIfAlone(a, released) && !a.exited() {
			return killGroup(a.cmd.Process)
		}
		return nil
	}
	return &link{conn: conn, wait: wait, kill: kill, stderr: a.stderr}, nil
}

// send hands f to the agent. A stopped agent reads nothing, and once the
// socket's buffer is full a send would wait for ever: it waits as long as
// ctx allows and at most as long as a hello.
func (a *sharedAgent) send(ctx context.Context, f *os.File) error {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	deadline := time.Now().Add(helloTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	a.ctl.SetWriteDeadline(deadline)
	return shared.Send(a.ctl, f)
}

// sharedConn is a gateway's connection to a shared agent. A read or write
// that fails because the process died returns an *AgentLostError.
type sharedConn struct {
	*net.UnixConn
	r      *startCheckReader
	w      *startCheckWriter
	loss   agentLoss
	served *atomic.Bool // the process's: set on the first byte read
}

func (c *sharedConn) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if n > 0 && !c.served.Load() {
		c.served.Store(true)
	}
	return n, c.loss.lost(err)
}

func (c *sharedConn) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	return n, c.loss.lost(err)
}

func (c *sharedConn) Close() error {
	c.loss.closed.Store(true)
	return c.UnixConn.Close()
}
