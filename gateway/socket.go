package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
	client, err := handshakeRetrying(ctx, target, auth, hk, dial)
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

// A server under a flood of connections drops some that are still
// authenticating, or refuses them, and says so in a line before its
// version. A handshake that the server ended (a reset, an end of stream, a
// refusal) is therefore tried again, a few times and with growing pauses;
// what fails for any other reason (authentication, host key, ctx) is not.
const (
	handshakeAttempts = 5
	firstRetryPause   = 50 * time.Millisecond
)

func handshakeRetrying(ctx context.Context, target sshTarget, auth *sshAuth, hk *hostKeyCheck, dial dialFunc) (*ssh.Client, error) {
	pause := firstRetryPause
	for attempt := 1; ; attempt++ {
		said := &serverWords{}
		client, err := sshHandshake(ctx, target, auth, hk, said.dial(dial))
		if err == nil {
			return client, nil
		}
		words := said.refusal()
		if words != "" {
			err = fmt.Errorf("%w (the server said: %s)", err, words)
		}
		if ctx.Err() != nil || (words == "" && !droppedByServer(err)) {
			return nil, err
		}
		if attempt == handshakeAttempts {
			if words == "" {
				err = fmt.Errorf("%w (the server ended the handshake %d times, as wasmnet serve does at its limit of connections authenticating, --max-unauthenticated, or its --handshake-timeout)", err, attempt)
			}
			return nil, err
		}
		t := time.NewTimer(pause + rand.N(pause))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (then %w)", err, ctx.Err())
		}
		pause *= 2
	}
}

// droppedByServer reports whether err says the server ended the
// connection: those are worth another attempt. x/crypto/ssh reports a
// server's reset during the key exchange as its own close of the
// connection (net.ErrClosed); a close for ctx is told apart by ctx.
func droppedByServer(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// serverWords keeps what a server sent before its SSH version: lines that
// SSH clients skip, which wasmnet serve uses to say why it refuses.
type serverWords struct {
	mu   sync.Mutex
	head []byte
	full atomic.Bool // head holds all it keeps: reads skip mu
}

func (w *serverWords) dial(dial dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &recordingConn{Conn: c, w: w}, nil
	}
}

// refusal returns wasmnet serve's reason for refusing the connection, if
// it gave one, cut and escaped for a terminal.
func (w *serverWords) refusal() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for line := range strings.Lines(string(w.head)) {
		if why, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "wasmnet serve: refused: "); ok {
			return strconv.Quote(why)[1 : len(strconv.Quote(why))-1]
		}
		if strings.HasPrefix(line, "SSH-") {
			break
		}
	}
	return ""
}

// recordingConn records the first bytes a server sends.
type recordingConn struct {
	net.Conn
	w *serverWords
}

const maxServerWords = 1024

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.w.full.Load() {
		return n, err
	}
	c.w.mu.Lock()
	room := maxServerWords - len(c.w.head)
	c.w.head = append(c.w.head, p[:min(n, room)]...)
	c.w.full.Store(n >= room)
	c.w.mu.Unlock()
	return n, err
}
