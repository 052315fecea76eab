package gateway

import (
	"context"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
)

// SocketChannelType is the SSH channel type a `wasmnet serve` server runs an
// agent on, one per channel.
const SocketChannelType = "wasmnet-agent"

// DefaultSocketPort is the port of socket= gateways that name none.
const DefaultSocketPort = "7300"

// dialSocket reaches a long-running `wasmnet serve` at socket=[user@]host[:port].
// The connection is the SSH transport of x/crypto/ssh: the server proves
// its host key (checked against known_hosts like ssh=) and the client logs
// in with a public key that the server's authorized_keys lists. With the
// option insecure_plain the protocol runs on plain TCP, which is allowed
// only to a loopback address.
func dialSocket(ctx context.Context, sp Spec, dial dialFunc) (*link, error) {
	usr, host, port, err := splitUserHostPort(sp.Value)
	if err != nil {
		return nil, fmt.Errorf("gateway: socket %s: %w", sp.Value, err)
	}
	if port == "" {
		port = DefaultSocketPort
	}
	if usr == "" {
		usr = currentUser()
	}
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	target := sshTarget{alias: host, host: host, port: port, user: usr}
	if _, plain := sp.Options["insecure_plain"]; plain {
		return dialPlainSocket(ctx, target, dial)
	}
	l, err := dialSSHSocket(ctx, sp, target, dial)
	if err != nil {
		return nil, fmt.Errorf("gateway: socket %s: %w", sp.Value, err)
	}
	return l, nil
}

func dialSSHSocket(ctx context.Context, sp Spec, target sshTarget, dial dialFunc) (*link, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, err
	}
	auth, hk, err := clientCredentials(sp, home, target)
	if err != nil {
		return nil, err
	}
	defer auth.close()
	client, err := sshHandshake(ctx, target, auth, hk, dial)
	if err != nil {
		return nil, err
	}
	ch, reqs, err := client.OpenChannel(SocketChannelType, nil)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("open an agent: %w", err)
	}
	go ssh.DiscardRequests(reqs)
	// The agent lives in the server; it ends when its channel closes.
	return &link{conn: ch, wait: client.Close, kill: client.Close}, nil
}

func dialPlainSocket(ctx context.Context, target sshTarget, dial dialFunc) (*link, error) {
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, target.host)
	if err != nil {
		return nil, fmt.Errorf("gateway: socket %s: %w: %w", target.addr(), ErrHostUnreachable, err)
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return nil, fmt.Errorf("gateway: socket %s: insecure_plain is refused for a non-loopback address (%s): use the authenticated transport", target.addr(), ip.IP)
		}
	}
	conn, err := dial(ctx, "tcp", target.addr())
	if err != nil {
		return nil, fmt.Errorf("gateway: socket %s: %w: %w", target.addr(), ErrHostUnreachable, err)
	}
	return &link{conn: conn, wait: func() error { return nil }, kill: conn.Close}, nil
}
