package host

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// TestServeEndsWithASilentClient: a client that says hello and then
// nothing, not even pings, is taken for gone once the agent's keepalive
// timeout has passed; Serve (one connection of `wasmnet serve`) ends.
func TestServeEndsWithASilentClient(t *testing.T) {
	client, agent := net.Pipe()
	defer client.Close()
	done := make(chan error, 1)
	go func() {
		done <- Serve(context.Background(), agent, NewConfig().WithoutCompilationCache().WithKeepAliveTimeout(200*time.Millisecond))
	}()
	go io.Copy(io.Discard, client)
	client.Write(hello(t, channel.ProtocolVersion))
	select {
	case err := <-done:
		if !errors.Is(err, channel.ErrKeepAliveTimeout) {
			t.Fatalf("Serve: %v, want a keepalive timeout", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve kept a silent client for a minute")
	}
}

// TestServeKeepsAnIdleClient: a client mux, idle but alive, pings as the
// agent's hello asks, and the agent keeps it past several timeouts.
func TestServeKeepsAnIdleClient(t *testing.T) {
	client, agent := net.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Serve(context.Background(), agent, NewConfig().WithoutCompilationCache().WithKeepAliveTimeout(time.Second))
	}()
	m, err := channel.NewMux(context.Background(), client, channel.RoleClient, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Peer().KeepAliveTimeout != 1000 {
		t.Fatalf("the agent's hello announces a timeout of %d ms, want 1000", m.Peer().KeepAliveTimeout)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve ended with an idle, live client: %v", err)
	case <-time.After(4 * time.Second):
	}
	if _, err := m.Call(context.Background(), wire.KindStatus, nil); err != nil {
		t.Fatalf("status after idling: %v", err)
	}
}
