package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/host"
)

type serveFlags struct {
	agent          agentFlags
	listen         string
	hostKey        string
	authorizedKeys string
	insecurePlain  bool
}

func newServeCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve agents to socket= gateways over an authenticated connection",
		Long: `serve listens for socket= gateways and runs one agent per connection.

Clients authenticate with an SSH public key listed in --authorized-keys, over the
SSH transport (x/crypto/ssh); they check the server's --host-key against their
known_hosts, exactly as for ssh= gateways. The host key is generated (ed25519) if
the file does not exist. --insecure-plain serves the bare protocol on plain TCP
instead, and is refused unless --listen is a loopback address.

The first line on stdout is "listening on ADDR", with the port chosen when
--listen ends in :0.`,
		Example: `  wasmnet serve --listen 0.0.0.0:7300 --authorized-keys ~/.ssh/authorized_keys
  wasmnet run -g socket=build@10.0.0.7:7300 wasm-examples/echo/echo.wasm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return serve(ctx, f, cmd.OutOrStdout())
		},
	}
	home, _ := os.UserHomeDir()
	cmd.Flags().StringVar(&f.listen, "listen", "127.0.0.1:"+gateway.DefaultSocketPort, "address to listen on")
	cmd.Flags().StringVar(&f.hostKey, "host-key", filepath.Join(home, ".config", "wasmnet", "host_ed25519"), "the server's private host key (created if missing)")
	cmd.Flags().StringVar(&f.authorizedKeys, "authorized-keys", filepath.Join(home, ".ssh", "authorized_keys"), "public keys allowed to connect")
	f.agent.register(cmd.Flags())
	cmd.Flags().BoolVar(&f.insecurePlain, "insecure-plain", false, "serve unauthenticated plain TCP (loopback addresses only)")
	return cmd
}

func serve(ctx context.Context, f serveFlags, out io.Writer) error {
	addr, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return fmt.Errorf("serve: --listen %s: %w", f.listen, err)
	}
	var cfg *ssh.ServerConfig
	if f.insecurePlain {
		if ip := net.ParseIP(addr); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("serve: --insecure-plain needs a loopback --listen address, not %s", addr)
		}
	} else if cfg, err = serverConfig(f); err != nil {
		return err
	}
	l, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintf(out, "listening on %s\n", l.Addr())
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	agentCfg := f.agent.config()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("serve: %w", err)
		}
		conns.Go(func() {
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			if cfg == nil {
				host.Serve(ctx, conn, agentCfg)
				return
			}
			serveSSH(ctx, conn, cfg, agentCfg)
		})
	}
}

// serveSSH runs one agent per wasmnet channel of an SSH connection.
func serveSSH(ctx context.Context, conn net.Conn, cfg *ssh.ServerConfig, agentCfg host.Config) {
	sc, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wasmnet serve: %s: %v\n", conn.RemoteAddr(), err)
		conn.Close()
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	var agents sync.WaitGroup
	defer agents.Wait()
	for nc := range chans {
		if nc.ChannelType() != gateway.SocketChannelType {
			nc.Reject(ssh.UnknownChannelType, "this server runs wasmnet agents only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go ssh.DiscardRequests(creqs)
		agents.Go(func() { host.Serve(ctx, ch, agentCfg) })
	}
}

func serverConfig(f serveFlags) (*ssh.ServerConfig, error) {
	signer, err := loadOrCreateHostKey(f.hostKey)
	if err != nil {
		return nil, fmt.Errorf("serve: host key: %w", err)
	}
	authorized, err := readAuthorizedKeys(f.authorizedKeys)
	if err != nil {
		return nil, fmt.Errorf("serve: authorized keys: %w", err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, k := range authorized {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return &ssh.Permissions{}, nil
				}
			}
			return nil, fmt.Errorf("key %s of %s is not authorized", ssh.FingerprintSHA256(key), meta.User())
		},
	}
	cfg.AddHostKey(signer)
	return cfg, nil
}

func readAuthorizedKeys(path string) ([]ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []ssh.PublicKey
	for len(bytes.TrimSpace(b)) > 0 {
		key, _, _, rest, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		keys = append(keys, key)
		b = rest
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s lists no key: no client could connect", path)
	}
	return keys, nil
}

func loadOrCreateHostKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "wasmnet serve host key")
		if err != nil {
			return nil, err
		}
		b = pem.EncodeToMemory(block)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return ssh.ParsePrivateKey(b)
}
