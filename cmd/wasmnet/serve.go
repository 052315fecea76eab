package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/host"
)

type serveFlags struct {
	agent            agentFlags
	listen           string
	hostKey          string
	authorizedKeys   string
	insecurePlain    bool
	handshakeTimeout time.Duration
	maxUnauth        int
	maxClients       int
	maxAgents        int
	maxExecutions    int
}

func newServeCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve agents to socket= gateways over an authenticated connection",
		Long: `serve listens for socket= gateways and runs one agent per connection.

Clients authenticate with an SSH public key listed in --authorized-keys (by
default wasmnet's own file, not ~/.ssh/authorized_keys), over the SSH
transport (x/crypto/ssh); they check the server's --host-key against their
known_hosts, exactly as for ssh= gateways. The host key is generated (ed25519)
if the file does not exist. The key file's options from=, expiry-time= and
restrict are honoured; serve refuses to start on an option it does not
implement. --insecure-plain serves the bare protocol on plain TCP instead,
without authentication, and is refused unless --listen is a loopback address.

serve starts with the least: its agents run guests and nothing else. Hops for
via= gateways (dial, command), rsync and directory grants are each refused
unless --allow-hops, --allow-rsync or --allow-dir-grants turns them on, and
--insecure-plain refuses those flags. Clients, agents per client, concurrent
executions and connections still authenticating are bounded (see the flags);
executions that set no run-time limit get --default-time-limit. SECURITY.md
says what each setting guarantees.

The first line on stdout is "listening on ADDR", with the port chosen when
--listen ends in :0.`,
		Example: `  cat ~/.ssh/id_ed25519.pub >> ~/.config/wasmnet/authorized_keys   # on the client's machine: its key
  wasmnet serve --listen 0.0.0.0:7300
  wasmnet run -g socket=build@10.0.0.7:7300 wasm-examples/echo/echo.wasm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.agent.check(cmd.Flags()); err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return serve(ctx, &f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	dir := configDir()
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:"+gateway.DefaultSocketPort, "address to listen on")
	fl.StringVar(&f.hostKey, "host-key", filepath.Join(dir, "host_ed25519"), "the server's private host key (created if missing)")
	fl.StringVar(&f.authorizedKeys, "authorized-keys", filepath.Join(dir, "authorized_keys"), "public keys allowed to connect, with OpenSSH options")
	fl.BoolVar(&f.insecurePlain, "insecure-plain", false, "serve unauthenticated plain TCP (loopback addresses only)")
	f.agent.registerServe(fl)
	fl.DurationVar(&f.handshakeTimeout, "handshake-timeout", 30*time.Second, "time a connection has to authenticate (or, with --insecure-plain, to say hello)")
	fl.IntVar(&f.maxUnauth, "max-unauthenticated", 64, "connections still authenticating; when full, the oldest that has said least is dropped, or the new one refused")
	fl.IntVar(&f.maxClients, "max-clients", 64, "authenticated connections at once")
	fl.IntVar(&f.maxAgents, "max-agents-per-client", 16, "agents (socket= gateways) one connection may run at once")
	fl.IntVar(&f.maxExecutions, "max-executions", 8*runtime.NumCPU(), "executions running at once over all clients")
	return cmd
}

// server is one `wasmnet serve`.
type server struct {
	flags    *serveFlags
	ssh      *ssh.ServerConfig // nil with --insecure-plain
	agentCfg host.Config
	log      *rateLog

	unauth  *pendingConns // connections not yet authenticated
	clients chan struct{} // a slot per authenticated connection
	conns   sync.WaitGroup
	release *idleRelease // memory back to the OS when the last connection ends
}

func serve(ctx context.Context, f *serveFlags, stdout, stderr io.Writer) error {
	s, err := newServer(f, stderr)
	if err != nil {
		return err
	}
	// One engine for every connection: a module compiled for one client
	// is instantiated for the next at the cost of an instance, and each
	// client is a tenant of it (host.Config.WithTenant).
	eng, err := host.NewEngine(ctx, s.agentCfg)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer eng.Close(context.Background()) // after the connections, below
	s.agentCfg = s.agentCfg.WithEngine(eng)
	l, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintf(stdout, "listening on %s\n", l.Addr())
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer s.release.stop(ctx)
	defer s.conns.Wait()
	return s.acceptLoop(ctx, l)
}

func newServer(f *serveFlags, stderr io.Writer) (*server, error) {
	addr, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return nil, fmt.Errorf("serve: --listen %s: %w", f.listen, err)
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"max-unauthenticated", f.maxUnauth}, {"max-clients", f.maxClients}, {"max-agents-per-client", f.maxAgents}, {"max-executions", f.maxExecutions}} {
		if n.v < 1 {
			return nil, fmt.Errorf("serve: --%s %d: want at least 1", n.name, n.v)
		}
	}
	if f.handshakeTimeout <= 0 {
		return nil, fmt.Errorf("serve: --handshake-timeout %v: want a positive duration", f.handshakeTimeout)
	}
	s := &server{
		flags:   f,
		log:     &rateLog{w: stderr},
		unauth:  &pendingConns{max: f.maxUnauth},
		clients: make(chan struct{}, f.maxClients),
		release: newIdleRelease(time.Second),
	}
	if f.insecurePlain {
		if ip := net.ParseIP(addr); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("serve: --insecure-plain needs a loopback --listen address, not %s", addr)
		}
		// Every local user can reach a plain server as this user.
		if f.agent.allowHops || f.agent.allowRSync || f.agent.allowDirs || f.agent.allowCache {
			return nil, errors.New("serve: --insecure-plain refuses --allow-hops, --allow-rsync, --allow-dir-grants and --allow-cache-requests: any local user could use them as this user; use the authenticated transport")
		}
	} else if s.ssh, err = serverConfig(f); err != nil {
		return nil, err
	}
	s.agentCfg = f.agent.config().
		WithExecutionLimit(host.NewExecutionLimit(f.maxExecutions)).
		WithHelloTimeout(f.handshakeTimeout)
	return s, nil
}

// acceptLoop serves each connection on a goroutine of its own. An accept
// error other than the listener's close (too many open files, say) is
// waited out with a growing pause, as net/http does, rather than ending
// the server: connections that end free what it lacked.
func (s *server) acceptLoop(ctx context.Context, l net.Listener) error {
	var pause time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("serve: %w", err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.log.printf("wasmnet serve: %v; accepting again in %v", err, pause)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		pause = 0
		s.conns.Go(func() {
			defer s.release.begin()()
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			defer conn.Close()
			if s.ssh == nil {
				s.servePlain(ctx, conn)
			} else {
				s.serveSSH(ctx, conn)
			}
		})
	}
}

// servePlain runs an agent on a plain connection once it has spoken: until
// then it counts among the unauthenticated ones, so that idle connections
// cost no agent (each holds a mux and its buffers) and are dropped like those
// of an SSH server.
func (s *server) servePlain(ctx context.Context, conn net.Conn) {
	pc, ok := s.unauth.add(conn)
	if !ok {
		s.refuse(conn, s.unauth.refusal())
		return
	}
	conn.SetReadDeadline(time.Now().Add(s.flags.handshakeTimeout))
	br := bufio.NewReader(pc)
	_, err := br.Peek(1)
	s.unauth.remove(pc)
	if err != nil {
		return
	}
	conn.SetReadDeadline(time.Time{})
	select {
	case s.clients <- struct{}{}:
		defer func() { <-s.clients }()
	default:
		// The client quotes what it read instead of a hello.
		s.refuse(conn, fmt.Sprintf("wasmnet serve has its limit of %d clients (--max-clients); try again later", cap(s.clients)))
		return
	}
	// Any local user may be the client: none is the cache's owner.
	host.Serve(ctx, bufferedConn{br, conn}, s.agentCfg.WithTenant(plainTenant))
}

// plainTenant is the tenant of every --insecure-plain client.
const plainTenant = "insecure-plain"

// bufferedConn reads through the reader that peeked at the connection.
type bufferedConn struct {
	r *bufio.Reader
	net.Conn
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// serveSSH authenticates a connection and runs one agent per wasmnet
// channel of it.
func (s *server) serveSSH(ctx context.Context, conn net.Conn) {
	sc, chans, reqs, err := s.handshake(conn)
	if err != nil {
		s.log.printf("wasmnet serve: %s: %v", conn.RemoteAddr(), err)
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	select {
	case s.clients <- struct{}{}:
		defer func() { <-s.clients }()
	default:
		s.log.printf("wasmnet serve: %s: refused: %d clients already", conn.RemoteAddr(), cap(s.clients))
		// The client's first channel carries the reason to it.
		select {
		case nc, ok := <-chans:
			if ok {
				nc.Reject(ssh.ResourceShortage, fmt.Sprintf("wasmnet serve has its limit of %d clients; try again later", cap(s.clients)))
			}
		case <-time.After(s.flags.handshakeTimeout):
		}
		return
	}
	cfg := s.agentCfg.WithTenant(sc.Permissions.Extensions[permFingerprint])
	if _, ok := sc.Permissions.Extensions[permNoHops]; ok {
		cfg = cfg.WithoutHops()
	}
	if _, ok := sc.Permissions.Extensions[permRestrict]; ok {
		cfg = cfg.WithoutHops().WithoutRSync().WithoutDirGrants().WithoutCacheRequests()
	}
	w := &clientWatch{timeout: s.flags.agent.keepAlive}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go w.watch(wctx, s, sc)
	s.runAgents(ctx, chans, cfg, w, sc.RemoteAddr())
}

// handshake runs the SSH handshake within --handshake-timeout, counted
// among the connections not yet authenticated.
func (s *server) handshake(conn net.Conn) (*ssh.ServerConn, <-chan ssh.NewChannel, <-chan *ssh.Request, error) {
	pc, ok := s.unauth.add(conn)
	if !ok {
		why := s.unauth.refusal()
		s.refuse(conn, why)
		return nil, nil, nil, errors.New(why)
	}
	defer s.unauth.remove(pc)
	conn.SetDeadline(time.Now().Add(s.flags.handshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(pc, s.ssh)
	if err != nil {
		return nil, nil, nil, err
	}
	conn.SetDeadline(time.Time{})
	return sc, chans, reqs, nil
}

func (s *server) runAgents(ctx context.Context, chans <-chan ssh.NewChannel, cfg host.Config, w *clientWatch, addr net.Addr) {
	var agents sync.WaitGroup
	defer agents.Wait()
	slots := make(chan struct{}, s.flags.maxAgents)
	for nc := range chans {
		if nc.ChannelType() != gateway.SocketChannelType {
			nc.Reject(ssh.UnknownChannelType, "this server runs wasmnet agents only")
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			nc.Reject(ssh.ResourceShortage, fmt.Sprintf("wasmnet serve runs at most %d agents per client", cap(slots)))
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			<-slots
			continue
		}
		go ssh.DiscardRequests(creqs)
		w.agents.Add(1)
		agents.Go(func() {
			defer func() { <-slots }()
			defer w.agents.Add(-1)
			if err := host.Serve(ctx, ch, cfg); err != nil {
				s.log.printf("wasmnet serve: %s: agent ended: %v", addr, err)
			}
		})
	}
}

// rateLog prints at most a few lines a second, so that a flood of bad
// connections cannot flood the server's log.
type rateLog struct {
	w io.Writer

	mu      sync.Mutex
	window  time.Time // start of the current second
	lines   int       // printed in it
	dropped int       // not printed since the last line that was
}

const rateLogLines = 10

func (l *rateLog) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.window) >= time.Second {
		l.window, l.lines = now, 0
	}
	if l.lines >= rateLogLines {
		l.dropped++
		return
	}
	l.lines++
	if l.dropped > 0 {
		fmt.Fprintf(l.w, "wasmnet serve: (%d more messages not shown)\n", l.dropped)
		l.dropped = 0
	}
	fmt.Fprintf(l.w, format+"\n", args...)
}
