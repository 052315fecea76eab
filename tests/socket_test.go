package tests

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

func TestSocketGateway(t *testing.T) {
	k := newServeKeys(t)
	clientKey, authorized := k.client("client_key")
	serve := k.start(authorized, "")
	addr, spec := serve.addr, k.spec(serve, clientKey)
	g := makeGateway(t, spec)
	if got := runEcho(t, g, []any{"over", int64(2), "sockets"}); len(got) != 3 || got[2] != "sockets" {
		t.Fatalf("echo over socket=: %v", got)
	}
	checkWordcount(t, g)

	// Two gateways share one server; each has its own agent.
	g2 := makeGateway(t, spec)
	runEcho(t, g2, []any{"second"})

	t.Run("unauthorized key", func(t *testing.T) {
		other, _ := k.client("other_key")
		_, err := tryGateway(t, k.spec(serve, other))
		if !errors.Is(err, gateway.ErrAuthRefused) {
			t.Fatalf("got %v, want ErrAuthRefused", err)
		}
	})
	t.Run("unknown host key", func(t *testing.T) {
		empty := filepath.Join(k.dir, "empty_known_hosts")
		os.WriteFile(empty, nil, 0o600)
		_, err := tryGateway(t, "socket="+addr+"//identity="+clientKey+"//known_hosts="+empty)
		if !errors.Is(err, gateway.ErrHostKeyUnknown) {
			t.Fatalf("got %v, want ErrHostKeyUnknown", err)
		}
	})
	t.Run("plain refused by an ssh server", func(t *testing.T) {
		start := time.Now()
		_, err := tryGateway(t, "socket="+addr+"//insecure_plain")
		if err == nil || time.Since(start) > 10*time.Second {
			t.Fatalf("got %v after %v, want a prompt error", err, time.Since(start))
		}
	})
}

func TestSocketPlainLoopbackOnly(t *testing.T) {
	addr := startServeProc(t, "", "--insecure-plain").addr
	g := makeGateway(t, "socket="+addr+"//insecure_plain")
	runEcho(t, g, []any{"plain"})
	_, err := tryGateway(t, "socket=10.255.255.1:7300//insecure_plain")
	if err == nil || !strings.Contains(err.Error(), "non-loopback") {
		t.Fatalf("got %v, want plain TCP refused for a non-loopback address", err)
	}
	// A server refuses rsync unless told otherwise.
	if _, err := g.RSync(ctxFor(t, testutil.WaitTimeout), t.TempDir(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "refuses rsync") {
		t.Fatalf("rsync to a plain server: got %v", err)
	}
	cmd := exec.Command(testwasm.Agent(t), "serve", "--insecure-plain", "--listen", "0.0.0.0:0")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "loopback") {
		t.Fatalf("serve --insecure-plain on 0.0.0.0: %v, %s", err, out)
	}
}
