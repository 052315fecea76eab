package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/wasmnet/wasmnet/gateway"
)

// The serve figures: a new socket= connection to a `wasmnet serve` that
// ran the module before (for a connection of the same key), SSH handshake
// included, beside the bare handshake to the same server (issue 21).

var goalServeGo = &goal{text: "<= 15 ms", bound: 15}

func serveProbes() []probe {
	return []probe{
		{figures: []figure{{key: "raw-ssh", name: "raw: SSH handshake and key auth to wasmnet serve, loopback", unit: "ms"}},
			run: (*bench).rawSSH},
		{figures: []figure{{key: "serve-go-r", name: "serve: new socket= connection to first item, Go echo reactor run before", unit: "ms", limit: "raw-ssh", goal: goalServeGo}},
			run: func(b *bench) ([]float64, error) { return b.serveFirstItem("echo-reactor") }},
		{figures: []figure{{key: "serve-go", name: "serve: new socket= connection to first item, Go echo run before", unit: "ms", limit: "raw-ssh", goal: goalServeGo}},
			run: func(b *bench) ([]float64, error) { return b.serveFirstItem("echo") }},
		{figures: []figure{{key: "serve-c", name: "serve: new socket= connection to first item, C echo run before", unit: "ms", limit: "raw-ssh", goal: goalServeGo}},
			run: func(b *bench) ([]float64, error) { return b.serveFirstItem("echo-c") }},
		{figures: []figure{{key: "serve-rust", name: "serve: new socket= connection to first item, Rust echo run before", unit: "ms", limit: "raw-ssh", goal: goalServeGo}},
			run: func(b *bench) ([]float64, error) { return b.serveFirstItem("echo-rust") }},
		{figures: []figure{{key: "serve-star", name: "serve: new socket= connection to first item, Starlark echo run before", unit: "ms", limit: "raw-ssh", goal: goalServeGo}},
			run: func(b *bench) ([]float64, error) { return b.serveFirstItem(starlarkEcho) }},
	}
}

// benchServer is a `wasmnet serve` on loopback with a client key of its
// own, for the serve figures; made on first use, stopped with the bench.
type benchServer struct {
	dir        string
	cmd        *exec.Cmd
	addr       string
	clientKey  string // path of the client's private key
	knownHosts string
	client     *ssh.ClientConfig // for the bare handshake
	warmed     map[string]bool   // modules the server ran for the key
}

func (b *bench) server() (*benchServer, error) {
	if b.serve != nil {
		return b.serve, nil
	}
	s, err := startBenchServer(b.opts.agent)
	if err != nil {
		return nil, fmt.Errorf("bench: serve: %w", err)
	}
	b.serve = s
	return s, nil
}

func (b *bench) closeServer() {
	if b.serve != nil {
		b.serve.stop()
		b.serve = nil
	}
}

func startBenchServer(agent string) (*benchServer, error) {
	dir, err := os.MkdirTemp("", "wasmnet-bench-serve-")
	if err != nil {
		return nil, err
	}
	s := &benchServer{dir: dir, clientKey: filepath.Join(dir, "client_key"), knownHosts: filepath.Join(dir, "known_hosts"), warmed: map[string]bool{}}
	hostSigner, err := writeKey(filepath.Join(dir, "host_key"))
	if err == nil {
		var clientSigner ssh.Signer
		if clientSigner, err = writeKey(s.clientKey); err == nil {
			s.client = &ssh.ClientConfig{User: "bench", Auth: []ssh.AuthMethod{ssh.PublicKeys(clientSigner)}, Timeout: time.Minute}
			err = os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientSigner.PublicKey()), 0o600)
		}
	}
	if err == nil {
		err = s.start(agent, hostSigner.PublicKey())
	}
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// writeKey makes an ed25519 key and writes its private half to path.
func writeKey(path string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

// start runs serve and reads the address it listens on.
func (s *benchServer) start(agent string, hostKey ssh.PublicKey) error {
	s.cmd = exec.Command(agent, "serve", "--listen", "127.0.0.1:0",
		"--host-key", filepath.Join(s.dir, "host_key"), "--authorized-keys", filepath.Join(s.dir, "authorized_keys"))
	s.cmd.Stderr = os.Stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		return fmt.Errorf("wasmnet serve said %q: %v", line, err)
	}
	s.addr = addr
	s.client.HostKeyCallback = ssh.FixedHostKey(hostKey)
	known := knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostKey) + "\n"
	return os.WriteFile(s.knownHosts, []byte(known), 0o600)
}

func (s *benchServer) stop() {
	if s.cmd != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
	os.RemoveAll(s.dir)
}

func (s *benchServer) spec() string {
	return "socket=" + s.addr + "//identity=" + s.clientKey + "//known_hosts=" + s.knownHosts
}

// rawSSH measures the bare SSH handshake, key authentication included, to
// the server the serve figures use: what a socket= connection costs
// before any agent work.
func (b *bench) rawSSH() ([]float64, error) {
	s, err := b.server()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	conn, err := (&net.Dialer{}).DialContext(b.ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, s.addr, s.client)
	if err != nil {
		conn.Close()
		return nil, err
	}
	elapsed := time.Since(start)
	ssh.NewClient(sc, chans, reqs).Close()
	return []float64{millis(elapsed)}, nil
}

// serveFirstItem measures a new socket= gateway to the server, up to the
// first item from module name, which the server ran before for the same
// key (on another connection).
func (b *bench) serveFirstItem(name string) ([]float64, error) {
	s, err := b.server()
	if err != nil {
		return nil, err
	}
	m, err := b.module(name)
	if err != nil {
		return nil, err
	}
	if !s.warmed[name] {
		if _, err := b.serveEcho(s, m); err != nil {
			return nil, err
		}
		s.warmed[name] = true
	}
	d, err := b.serveEcho(s, m)
	if err != nil {
		return nil, err
	}
	return []float64{millis(d)}, nil
}

// serveEcho makes a gateway to s, runs m and echoes one item, and returns
// the time that took; the gateway's Exit is not counted.
func (b *bench) serveEcho(s *benchServer, m gateway.Module) (time.Duration, error) {
	gw, d, err := b.firstItem(func(ctx context.Context) (*gateway.Gateway, error) {
		return gateway.Make(ctx, s.spec(), gateway.WithOutput(b.log))
	}, m)
	if gw != nil {
		defer gw.Exit(context.Background())
	}
	if err != nil {
		return 0, errors.Join(errors.New("echo over socket="), err)
	}
	return d, nil
}
