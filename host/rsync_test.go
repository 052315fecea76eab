package host

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// clientOf serves cfg's agent in-process on a loopback connection and
// returns a client Mux to it.
func clientOf(t *testing.T, cfg Config) *channel.Mux {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		served <- Serve(ctx, conn, cfg)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	m, err := channel.NewMux(ctx, conn, channel.RoleClient, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return m
}

func TestRSyncRefusedWithoutRSync(t *testing.T) {
	m := clientOf(t, NewConfig().WithoutCompilationCache().WithoutRSync())
	ch, err := m.OpenChannel()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := msgpack.Marshal(&wire.RSyncRequest{Channel: ch.ID(), Dest: filepath.Join(t.TempDir(), "d")})
	_, err = m.Call(context.Background(), wire.KindRSync, body)
	var remote *channel.RemoteError
	if !errors.As(err, &remote) || !strings.Contains(err.Error(), "refuses rsync") {
		t.Fatalf("got %v, want the agent to refuse rsync", err)
	}
}

func TestCheckManifest(t *testing.T) {
	sum := make([]byte, 32)
	file := func(p string) wire.RSyncEntry { return wire.RSyncEntry{Path: p, Size: 1, SHA256: sum} }
	dir := func(p string) wire.RSyncEntry { return wire.RSyncEntry{Path: p, Dir: true} }
	tests := []struct {
		name string
		m    []wire.RSyncEntry
		ok   bool
	}{
		{"tree", []wire.RSyncEntry{dir("a"), file("a/f"), {Path: "a/l", Link: "../../etc"}}, true},
		{"dotdot", []wire.RSyncEntry{file("../f")}, false},
		{"inner dotdot", []wire.RSyncEntry{dir("a"), file("a/../../f")}, false},
		{"absolute", []wire.RSyncEntry{file("/etc/passwd")}, false},
		{"dot", []wire.RSyncEntry{dir(".")}, false},
		{"empty", []wire.RSyncEntry{file("")}, false},
		{"unclean", []wire.RSyncEntry{dir("a"), file("a/./f")}, false},
		{"parent missing", []wire.RSyncEntry{file("a/f")}, false},
		{"parent a link", []wire.RSyncEntry{{Path: "a", Link: "/tmp"}, file("a/f")}, false},
		{"parent later", []wire.RSyncEntry{file("a/f"), dir("a")}, false},
		{"duplicate", []wire.RSyncEntry{file("f"), file("f")}, false},
		{"short sha256", []wire.RSyncEntry{{Path: "f", SHA256: sum[:3]}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkManifest(tt.m)
			if (err == nil) != tt.ok {
				t.Fatalf("checkManifest: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
