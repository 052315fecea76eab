package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wasmnet/wasmnet/internal/resident"
)

// bootResident connects an ssh=HOST//resident gateway to the user's
// resident agent on the host of client. The first gateway of a pooled
// connection runs `wasmnet agent --resident` there (bootstrapped, so
// uploaded if the host lacks the build), which starts the agent unless it
// runs and says where its socket is; every gateway then opens a
// direct-streamlocal@openssh.com channel to that socket, so no process
// starts on the host for it. Where the server forbids streamlocal
// forwarding, the gateway runs `wasmnet agent --connect-resident`, a bridge.
func bootResident(ctx context.Context, client *ssh.Client, sp Spec, agentBinary agentBinaryFunc, pool *sshPool, idle time.Duration) (*link, bootReport, error) {
	known, ok := pool.residentOf(client)
	if ok && known.bridge {
		return bridgeResident(ctx, client, sp, agentBinary, idle)
	}
	var rep bootReport
	var err error
	if !ok {
		if known.paths, rep, err = startRemoteResident(ctx, client, sp, agentBinary, pool, idle); err != nil {
			return nil, rep, fmt.Errorf("resident agent: %w", err)
		}
	}
	l, err := dialRemoteResident(ctx, client, known.paths)
	if err != nil && ok && !errors.As(err, new(*resident.RefusedError)) {
		// The agent may have idled out since the socket was learnt.
		if known.paths, rep, err = startRemoteResident(ctx, client, sp, agentBinary, pool, idle); err != nil {
			return nil, rep, fmt.Errorf("resident agent: %w", err)
		}
		l, err = dialRemoteResident(ctx, client, known.paths)
	}
	var oce *ssh.OpenChannelError
	if errors.As(err, &oce) {
		// The agent has just said that it listens: the server refuses
		// the channel (OpenSSH says "open failed" for a forbidden one
		// as for a missing socket).
		pool.setResident(client, remoteResidentInfo{paths: known.paths, bridge: true})
		return bridgeResident(ctx, client, sp, agentBinary, idle)
	}
	if err != nil {
		return nil, rep, fmt.Errorf("resident agent: %w", err)
	}
	return l, rep, nil
}

// bridgeResident reaches the resident agent through a bridge process.
func bridgeResident(ctx context.Context, client *ssh.Client, sp Spec, agentBinary agentBinaryFunc, idle time.Duration) (*link, bootReport, error) {
	l, rep, err := bootstrapAgent(ctx, client, sp.Value, sp, agentBinary, residentFlag("--connect-resident", idle))
	if err != nil {
		return nil, rep, fmt.Errorf("resident agent (through a bridge: the server refuses streamlocal channels): %w", err)
	}
	return l, rep, nil
}

// bannerTimeout bounds the wait for a resident agent's banner.
const bannerTimeout = 10 * time.Second

// residentFlag is the agent flag for mode with the idle time.
func residentFlag(mode string, idle time.Duration) string {
	return mode + " --resident-idle " + idle.String()
}

// dialRemoteResident opens a streamlocal channel to the agent of p and
// checks its banner.
func dialRemoteResident(ctx context.Context, client *ssh.Client, p resident.Paths) (*link, error) {
	conn, err := client.Dial("unix", p.Socket)
	if err != nil {
		return nil, err
	}
	// An SSH channel has no read deadline: the banner's wait is cut by
	// closing it.
	bctx, cancel := context.WithTimeout(ctx, bannerTimeout)
	defer cancel()
	stop := context.AfterFunc(bctx, func() { conn.Close() })
	_, err = resident.ReadBanner(bctx, conn, p)
	if !stop() {
		err = fmt.Errorf("resident: %s: no banner: %w", p.Socket, bctx.Err())
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	// Nothing to reap: the agent outlives its gateways.
	return &link{conn: conn, wait: func() error { return nil }, kill: conn.Close}, nil
}

// startRemoteResident runs `wasmnet agent --resident` on the host of
// client, which starts the resident agent unless it runs, and returns the
// paths it printed; pool remembers them for the gateways that follow.
func startRemoteResident(ctx context.Context, client *ssh.Client, sp Spec, agentBinary agentBinaryFunc, pool *sshPool, idle time.Duration) (resident.Paths, bootReport, error) {
	l, rep, err := bootstrapAgent(ctx, client, sp.Value, sp, agentBinary, residentFlag("--resident", idle))
	if err != nil {
		return resident.Paths{}, rep, err
	}
	defer l.kill()
	stop := context.AfterFunc(ctx, func() { l.kill() })
	defer stop()
	// One short line; a longer one is no starter's.
	line, err := bufio.NewReaderSize(l.conn, 4096).ReadSlice('\n')
	if err != nil {
		l.kill()
		werr := l.wait()
		return resident.Paths{}, rep, fmt.Errorf("starting it: %w (%v; stderr: %s)", err, werr, strings.TrimSpace(l.stderr.String()))
	}
	p, err := resident.ParseStarted(strings.TrimSuffix(string(line), "\n"))
	if err != nil {
		return resident.Paths{}, rep, err
	}
	l.wait()
	pool.setResident(client, remoteResidentInfo{paths: p})
	return p, rep, nil
}

// remoteResidentInfo is what a pool knows of the resident agent on the
// host of one of its connections.
type remoteResidentInfo struct {
	paths  resident.Paths
	bridge bool // the server refuses streamlocal channels
}
