package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wasmnet/wasmnet/host"
	"github.com/wasmnet/wasmnet/internal/resident"
	"github.com/wasmnet/wasmnet/internal/trace"
)

// startTimeout bounds the start of a resident agent: the wait for the
// start lock and for the new agent to listen.
const startTimeout = 30 * time.Second

// readyFD is the descriptor of the pipe on which a starting resident agent
// says "ok" once it listens, or closes it when it failed.
const readyFD = 3

// runResident does what f asks about the resident agent.
func runResident(ctx context.Context, f *residentFlags, cfg host.Config) error {
	if f.idle <= 0 {
		return fmt.Errorf("agent: --resident-idle %v: want a positive duration", f.idle)
	}
	p, err := ownPaths()
	if err != nil {
		return err
	}
	switch {
	case f.serve:
		return serveResident(ctx, p, cfg, f.idle, signalReady)
	case f.connect:
		return connectResident(ctx, p, f.idle)
	default:
		if err := ensureResident(ctx, p, f.idle); err != nil {
			return err
		}
		// For clients on another host, which cannot work the path out.
		_, err := io.WriteString(os.Stdout, resident.Started(p))
		return err
	}
}

// ownPaths returns the resident paths of this executable's build, after
// checking every directory from / to the socket directory.
func ownPaths() (resident.Paths, error) {
	fi, err := os.Stat("/proc/self/exe")
	if err != nil {
		return resident.Paths{}, fmt.Errorf("agent: resident: %w", err)
	}
	key, err := resident.Key(fi)
	if err != nil {
		return resident.Paths{}, fmt.Errorf("agent: %w", err)
	}
	dir, err := resident.Dir()
	if err != nil {
		return resident.Paths{}, fmt.Errorf("agent: %w", err)
	}
	if err := host.PrivateDir(dir); err != nil {
		return resident.Paths{}, fmt.Errorf("agent: resident: %w", err)
	}
	p := resident.PathsFor(dir, key)
	if err := p.CheckLength(); err != nil {
		return resident.Paths{}, fmt.Errorf("agent: %w", err)
	}
	return p, nil
}

// ensureResident starts the resident agent of p unless one runs, holding
// the start lock so that of clients racing to start it one does.
func ensureResident(ctx context.Context, p resident.Paths, idle time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	release, err := resident.Lock(ctx, p.Start, true)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer release()
	c, err := resident.Dial(ctx, p)
	if err == nil {
		c.Close()
		return nil
	}
	if !errors.Is(err, resident.ErrNotRunning) {
		return fmt.Errorf("agent: %w", err)
	}
	return spawnResident(ctx, p, idle)
}

// spawnResident starts `wasmnet agent --resident-serve` in a session of
// its own, with no terminal, its output in p.Log, and waits until it
// listens. It is not waited for: this process exits next, and the agent
// goes on as init's child.
func spawnResident(ctx context.Context, p resident.Paths, idle time.Duration) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("agent: resident: %w", err)
	}
	logf, err := os.OpenFile(p.Log, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("agent: resident: %w", err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("agent: resident: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(exe, "agent", "--resident-serve", "--resident-idle", idle.String())
	cmd.Dir = "/"
	cmd.Env = residentEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("agent: resident: %w", err)
	}
	if err := waitReady(ctx, r); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		tail, _ := os.ReadFile(p.Log)
		return fmt.Errorf("agent: resident agent did not start: %w; its log: %s", err, strings.TrimSpace(string(tail)))
	}
	return cmd.Process.Release()
}

// residentEnv is env without what belongs to the client that happens to
// start the agent: its trace file and its profile path, which the agent
// would otherwise write to for as long as it lives.
func residentEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, trace.EnvVar+"=") && !strings.HasPrefix(kv, "WASMNET_AGENT_CPUPROFILE=") {
			out = append(out, kv)
		}
	}
	return out
}

// waitReady waits within ctx for "ok" on r.
func waitReady(ctx context.Context, r *os.File) error {
	if dl, ok := ctx.Deadline(); ok {
		r.SetReadDeadline(dl)
	}
	buf := make([]byte, 8)
	n, err := io.ReadFull(r, buf[:3])
	if err != nil || string(buf[:n]) != "ok\n" {
		return fmt.Errorf("no ready signal (%q, %v)", buf[:n], err)
	}
	return nil
}

// connectResident bridges stdin and stdout to the resident agent, started
// first if need be, until either side ends.
func connectResident(ctx context.Context, p resident.Paths, idle time.Duration) error {
	c, err := resident.Dial(ctx, p)
	if errors.Is(err, resident.ErrNotRunning) {
		if err = ensureResident(ctx, p, idle); err == nil {
			c, err = resident.Dial(ctx, p)
		}
	}
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	// The agent ends the connection when the client's side closes, so
	// this copy ends too; the other is left to the process's exit.
	go func() {
		io.Copy(c, os.Stdin)
		c.CloseWrite()
	}()
	_, err = io.Copy(os.Stdout, c)
	if err != nil {
		return fmt.Errorf("agent: resident: %w", err)
	}
	return nil
}

// serveResident is the resident agent: it holds p.Live for its life, so
// that it is the one agent of its build, listens on p.Socket and serves
// every connection of this user with one engine, until it has had no
// connection for idle or ctx ends. It calls ready once it listens.
func serveResident(ctx context.Context, p resident.Paths, cfg host.Config, idle time.Duration, ready func()) error {
	// A resident that is idling out releases the lock as it exits.
	lctx, cancel := context.WithTimeout(ctx, startTimeout)
	release, err := resident.Lock(lctx, p.Live, true)
	cancel()
	if err != nil {
		return fmt.Errorf("agent: another resident agent of this build runs: %w", err)
	}
	defer release()
	l, err := listenPrivate(p.Socket)
	if err != nil {
		return err
	}
	engine, err := host.NewEngine(ctx, cfg)
	if err != nil {
		l.Close()
		return fmt.Errorf("agent: %w", err)
	}
	defer engine.Close(context.Background())
	s := &residentServer{cfg: cfg.WithEngine(engine), banner: resident.Banner(p.Key, version), idle: idle, log: os.Stderr}
	ready()
	return s.run(ctx, l)
}

// signalReady writes "ok" to the pipe the starter passed as readyFD, if
// that descriptor is a pipe (it is nothing of ours when run by hand).
func signalReady() {
	var st syscall.Stat_t
	if syscall.Fstat(readyFD, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		return
	}
	ready := os.NewFile(readyFD, "ready")
	io.WriteString(ready, "ok\n")
	ready.Close()
}

// listenPrivate listens on path, 0600, after removing a socket that a
// killed agent left there (the caller holds the live lock: no agent of
// this build serves it). Anything else at path is left alone and refused.
func listenPrivate(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("agent: resident: %s is a %v, not a socket: remove it", path, fi.Mode().Type())
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("agent: resident: %w", err)
		}
	}
	old := syscall.Umask(0o077)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("agent: resident: %w", err)
	}
	return l, nil
}

// residentServer serves the connections of one resident agent.
type residentServer struct {
	cfg    host.Config
	banner string
	idle   time.Duration
	log    io.Writer

	mu     sync.Mutex // guards active and the idle timer's decision
	active int
	conns  sync.WaitGroup
}

// run accepts connections until the agent idles out or ctx ends, then
// waits for the connections being served.
func (s *residentServer) run(ctx context.Context, l *net.UnixListener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(s.idle, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.active == 0 {
			// Under the lock, so that no connection is counted in
			// after the decision to end; cancelled first, so that
			// the accept loop takes the closed listener for an end.
			cancel()
			l.Close()
		}
	})
	defer idle.Stop()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer s.conns.Wait()
	var pause time.Duration
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("agent: resident: %w", err)
			}
			// Out of files, say: connections that end free them.
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			fmt.Fprintf(s.log, "wasmnet agent: resident: %v; accepting again in %v\n", err, pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		if !s.enter(ctx, idle) {
			c.Close()
			return nil
		}
		s.conns.Go(func() {
			defer s.leave(idle)
			s.serveConn(ctx, c)
		})
	}
}

// enter counts an accepted connection in, unless the agent has decided to
// end: then the client sees the connection close before the banner, and
// starts a new agent.
func (s *residentServer) enter(ctx context.Context, idle *time.Timer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	s.active++
	idle.Stop()
	return true
}

// leave counts a connection out, and starts the idle time when the last
// one left.
func (s *residentServer) leave(idle *time.Timer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active--; s.active == 0 {
		idle.Reset(s.idle)
	}
}

// serveConn serves one gateway after checking that it is this user's.
func (s *residentServer) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	cred, err := resident.PeerCred(c)
	if err != nil {
		fmt.Fprintf(s.log, "wasmnet agent: resident: %v\n", err)
		return
	}
	if int(cred.Uid) != os.Getuid() {
		fmt.Fprintf(s.log, "wasmnet agent: resident: refused a connection of user %d (pid %d)\n", cred.Uid, cred.Pid)
		return
	}
	if _, err := io.WriteString(c, s.banner); err != nil {
		return
	}
	if err := host.Serve(ctx, c, s.cfg); err != nil {
		fmt.Fprintf(s.log, "wasmnet agent: resident: pid %d: %v\n", cred.Pid, err)
	}
}
