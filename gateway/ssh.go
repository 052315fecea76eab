package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// defaultConnectTimeout bounds the TCP connect and SSH handshake of every
// hop when the spec has no connect_timeout.
const defaultConnectTimeout = 30 * time.Second

// dialFunc opens a network connection; a via= hop supplies its own.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// agentBinaryFunc returns the path of a wasmnet binary for goos/goarch,
// which an ssh bootstrap uploads to a host that lacks that build.
type agentBinaryFunc func(goos, goarch string) (path string, err error)

// dialSSH starts an agent over SSH for ssh=[user@]host[:port] and says how
// it was started (also in the link's boot). ctx bounds the connect and the
// bootstrap, not the link. dial nil means a net.Dialer; the connection then
// comes from pool (and goes back to it when the agent ends) unless pool is
// nil, while a via= hop's dial makes a connection of its own.
//
// ~/.ssh/config ($HOME honoured), or the file of ssh_config=FILE (ssh -F),
// applies as in OpenSSH: Host aliases,
// HostName, User, Port, IdentityFile, ProxyJump. Keys come from the
// ssh-agent at $SSH_AUTH_SOCK, then from identity=PATH or else the config's
// IdentityFile or else ~/.ssh/id_ed25519, id_ecdsa, id_rsa. Host keys are
// checked against known_hosts=PATH or ~/.ssh/known_hosts unless the option
// insecure_ignore_host_key is given. Errors wrap ErrHostUnreachable,
// ErrAuthRefused, ErrHostKeyUnknown, ErrHostKeyMismatch, ErrNoPOSIXShell or
// ErrUploadFailed; an agent that exits before it speaks fails the first
// Read of the link with an *AgentStartError.
func dialSSH(ctx context.Context, sp Spec, agentBinary agentBinaryFunc, dial dialFunc, pool *sshPool) (*link, bootReport, error) {
	if dial != nil {
		pool = nil
	}
	use, idle, err := residentChoice(sp, &makeConfig{})
	if err != nil {
		return nil, bootReport{}, fmt.Errorf("gateway: ssh %s: %w", sp.Value, err)
	}
	boot := func(ctx context.Context, client *ssh.Client) (*link, bootReport, error) {
		if use {
			return bootResident(ctx, client, sp, agentBinary, pool, idle)
		}
		return bootstrap(ctx, client, sp.Value, sp, agentBinary)
	}
	l, rep, err := connectAndBoot(ctx, sp, boot, dial, pool)
	if err != nil {
		return nil, rep, fmt.Errorf("gateway: ssh %s: %w", sp.Value, err)
	}
	l.boot = &rep
	return l, rep, nil
}

// bootFunc starts the agent of a gateway on the SSH connection to its host.
type bootFunc func(ctx context.Context, client *ssh.Client) (*link, bootReport, error)

// connectAndBoot is dialSSH but for its error's prefix: it connects through
// the spec's hops and starts the agent on the last with boot.
func connectAndBoot(ctx context.Context, sp Spec, boot bootFunc, dial dialFunc, pool *sshPool) (*link, bootReport, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, bootReport{}, err
	}
	cfg, err := loadSSHConfig(home, sp.Options["ssh_config"])
	if err != nil {
		return nil, bootReport{}, err
	}
	target, err := resolveSSHTarget(sp.Value, cfg, home)
	if err != nil {
		return nil, bootReport{}, err
	}
	hops := make([]sshTarget, 0, len(target.jumps)+1)
	for _, j := range target.jumps {
		hop, err := resolveSSHTarget(j, cfg, home)
		if err != nil {
			return nil, bootReport{}, fmt.Errorf("ProxyJump %s: %w", j, err)
		}
		hops = append(hops, hop)
	}
	hops = append(hops, target)

	timeout := defaultConnectTimeout
	if s, ok := sp.Options["connect_timeout"]; ok {
		if timeout, err = time.ParseDuration(s); err != nil || timeout <= 0 {
			return nil, bootReport{}, fmt.Errorf("connect_timeout=%s: want a positive duration such as 10s", s)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	connect := func() ([]*ssh.Client, error) { return connectSSH(cctx, hops, sp, home, dial) }
	var (
		clients  []*ssh.Client
		closeAll func()
		booted   = func() {}
	)
	if pool == nil {
		clients, err = connect()
		closeAll = func() {
			for i := len(clients) - 1; i >= 0; i-- {
				clients[i].Close()
			}
		}
	} else {
		key := poolKey(hops, sp)
		var c *sshConn
		if c, err = pool.get(cctx, key, connect); err == nil {
			clients, closeAll = c.clients, sync.OnceFunc(func() { pool.put(key, c) })
			if booted, err = pool.firstBoot(ctx, key); err != nil {
				closeAll()
			}
		}
	}
	cancel()
	if err != nil {
		return nil, bootReport{}, err
	}
	l, rep, err := boot(ctx, clients[len(clients)-1])
	booted()
	if err != nil {
		closeAll()
		return nil, rep, err
	}
	wait, kill := l.wait, l.kill
	l.wait = func() error {
		err := wait()
		closeAll()
		return err
	}
	l.kill = func() error {
		err := kill()
		closeAll()
		return err
	}
	return l, rep, nil
}

// connectSSH connects to hops[0], then through each to the next, and returns
// the clients in that order: the last one reaches the target.
func connectSSH(ctx context.Context, hops []sshTarget, sp Spec, home string, dial dialFunc) ([]*ssh.Client, error) {
	auth, hk, err := clientCredentials(sp, home, hops[len(hops)-1])
	if err != nil {
		return nil, err
	}
	defer auth.close()
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var clients []*ssh.Client
	for i, hop := range hops {
		c, err := sshHandshake(ctx, hop, auth, hk, dial)
		if err != nil {
			for _, c := range clients {
				c.Close()
			}
			if i < len(hops)-1 {
				err = fmt.Errorf("jump host %s: %w", hop.alias, err)
			}
			return nil, err
		}
		clients = append(clients, c)
		dial = c.DialContext
	}
	return clients, nil
}

// clientCredentials gathers the keys to log in to target with and the
// check of its host key, as sp's options ask.
func clientCredentials(sp Spec, home string, target sshTarget) (*sshAuth, *hostKeyCheck, error) {
	var explicit []string
	if id, ok := sp.Options["identity"]; ok {
		explicit = []string{expandSSHPath(id, home, target)}
	}
	auth, err := newSSHAuth(explicit, target.identities, home)
	if err != nil {
		return nil, nil, err
	}
	hk, err := newHostKeyCheck(sp, home)
	if err != nil {
		auth.close()
		return nil, nil, err
	}
	return auth, hk, nil
}

// sshHandshake connects to t with dial and logs in.
func sshHandshake(ctx context.Context, t sshTarget, auth *sshAuth, hk *hostKeyCheck, dial dialFunc) (*ssh.Client, error) {
	addr := t.addr()
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHostUnreachable, err)
	}
	var refused error
	cb, algos := hk.forHost(addr, &refused)
	cfg := &ssh.ClientConfig{
		User:              t.user,
		Auth:              auth.methods(),
		HostKeyCallback:   cb,
		HostKeyAlgorithms: algos,
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	stopped := stop()
	conn.SetDeadline(time.Time{})
	switch {
	case err == nil && stopped:
		return ssh.NewClient(c, chans, reqs), nil
	case err == nil:
		c.Close()
		return nil, fmt.Errorf("%w: handshake with %s: %w", ErrHostUnreachable, addr, ctx.Err())
	}
	conn.Close()
	switch {
	case refused != nil:
		return nil, refused
	case !stopped || errors.Is(err, os.ErrDeadlineExceeded):
		// The connection's deadline is ctx's, and may fire a moment
		// before ctx itself reports it.
		if ctx.Err() != nil {
			err = ctx.Err()
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			err = context.DeadlineExceeded
		}
		return nil, fmt.Errorf("%w: handshake with %s: %w", ErrHostUnreachable, addr, err)
	case strings.Contains(err.Error(), "unable to authenticate"):
		return nil, fmt.Errorf("%w for user %s at %s (%s): %w", ErrAuthRefused, t.user, addr, auth.describe(), err)
	default:
		return nil, fmt.Errorf("handshake with %s: %w", addr, err)
	}
}
