package tests

// An arm64 agent under qemu-aarch64-static through exec=, checked against
// the amd64 agent on the same guests.

import (
	"os/exec"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// shq quotes s for splitWords (exec= specs), as a POSIX shell would.
func shq(s string) string { return "'" + s + "'" }

// TestQemuArm64Agent builds wasmnet for linux/arm64, runs it under
// qemu-aarch64-static with exec=, and wants echo, wordcount and primes to
// give exactly what the native agent gives, and the agent to say arm64.
func TestQemuArm64Agent(t *testing.T) {
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Fatalf("qemu-aarch64-static is missing (apt-get install -y qemu-user-static): %v", err)
	}
	warm(t)
	arm := testwasm.AgentFor(t, "linux", "arm64")
	native := makeGateway(t, "exec="+shq(agentBin(t))+" agent//id=native")
	emu := makeGateway(t, "exec="+shq(qemu)+" "+shq(arm)+" agent//id=arm64")

	for _, g := range []*gateway.Gateway{native, emu} {
		st, err := g.RemoteStatus(ctxFor(t, 30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		want := runtime.GOARCH
		if g == emu {
			want = "arm64"
		}
		if st.OS != "linux" || st.Arch != want {
			t.Errorf("gateway %s: status says %s/%s, want linux/%s", g.ID(), st.OS, st.Arch, want)
		}
	}

	t.Run("Echo", func(t *testing.T) {
		items := []any{int64(-1), int64(1) << 40, "ünïcode", []byte{0, 1, 2, 255}, 2.5, true, nil,
			[]any{int64(1), "two"}, map[string]any{"k": []any{int64(3), false}}}
		a, b := runEcho(t, native, items), runEcho(t, emu, items)
		if !reflect.DeepEqual(a, items) || !reflect.DeepEqual(b, a) {
			t.Fatalf("echo:\n sent   %#v\n native %#v\n arm64  %#v", items, a, b)
		}
	})
	t.Run("Wordcount", func(t *testing.T) {
		a, b := checkWordcount(t, native), checkWordcount(t, emu)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("wordcount differs:\n native %v\n arm64  %v", a, b)
		}
	})
	t.Run("Primes", func(t *testing.T) {
		ranges := [][2]int64{{0, 10}, {0, 1000}, {1000, 5000}, {1 << 20, 1<<20 + 20000}, {-5, 3}, {7, 7}}
		a, b := runPrimes(t, native, ranges), runPrimes(t, emu, ranges)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("primes differ:\n native %v\n arm64  %v", a, b)
		}
	})
}
