package tests

// Connect times of ssh= gateways on the loopback sshd, for BENCHMARKS.md:
//
//	go test ./tests -run '^$' -bench BenchmarkSSHConnect -benchtime 10x
//
// Each op is gateway.Make plus RemoteExec of the echo guest up to its first
// result; Exit is not timed.

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/sshdtest"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

func BenchmarkSSHConnect(b *testing.B) {
	warm(b)
	s := sshdtest.Start(b)
	s.ClientHome(b, true, true)
	spec := "ssh=" + s.User + "@" + s.Addr()
	cache := filepath.Join(s.RemoteHome, ".cache")

	// FirstConnect starts from an empty remote ~/.cache each time: the
	// bootstrap uploads the agent (gzip, about 40% of the binary) and the
	// agent compiles the guest. The client compresses the agent once per
	// process, so only the first op includes that.
	b.Run("FirstConnect", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			if err := os.RemoveAll(cache); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if g := connectToFirstResult(b, spec); !g.Uploaded() {
				b.Fatal("the bootstrap did not upload the agent to an empty cache")
			}
		}
	})
	// Upload starts with the agent missing from the remote cache but the
	// guest in the compilation cache (~/.cache/wasmnet/compile): the cost of
	// the upload alone, as after a client upgrade.
	b.Run("Upload", func(b *testing.B) {
		connectToFirstResult(b, spec) // compile the guest
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			agents, _ := filepath.Glob(filepath.Join(cache, "wasmnet", "agent-*"))
			for _, a := range agents {
				if err := os.Remove(a); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			if g := connectToFirstResult(b, spec); !g.Uploaded() {
				b.Fatal("the bootstrap did not upload the agent to an empty cache")
			}
		}
	})
	// Cached finds the agent in the remote cache and the compiled guest in
	// the agent's compilation cache: one SSH exec, no upload.
	b.Run("Cached", func(b *testing.B) {
		connectToFirstResult(b, spec) // fill both caches
		b.ResetTimer()
		for range b.N {
			if g := connectToFirstResult(b, spec); g.Uploaded() {
				b.Fatal("the bootstrap uploaded an agent that was cached")
			}
		}
	})
}

// connectToFirstResult makes an ssh= gateway, runs echo on it and waits for
// the first item back; the gateway's Exit is not timed.
func connectToFirstResult(b *testing.B, spec string) *gateway.Gateway {
	b.Helper()
	g, err := gateway.Make(ctxFor(b, testutil.WaitTimeout), spec, gateway.WithAgentPath(agentBin(b)), gateway.WithOutput(&testutil.SyncBuffer{}))
	if err != nil {
		b.Fatal(err)
	}
	ch, err := g.RemoteExec(ctxFor(b, testutil.WaitTimeout), loadModule(b, "echo"))
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.Send("first"); err != nil {
		b.Fatal(err)
	}
	if v, err := ch.Receive(ctxFor(b, testutil.WaitTimeout)); err != nil || v != "first" {
		b.Fatalf("echo: %v, %v", v, err)
	}
	b.StopTimer()
	ch.Close()
	exitGateway(b, g)
	b.StartTimer()
	return g
}
