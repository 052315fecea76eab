package tests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// A guest that computes without calling the host stalls neither its agent
// nor, through it, the link: over ssh= a stalled agent missed keepalives
// and lost its results, and over socket= it froze `wasmnet serve` for
// every client (issue 10). Bounds are generous; wasmnet bench measures
// the goals (spin-echo, spin-close).
const spinBound = 5 * time.Second

// checkSpinning runs a spin guest on g and, beside it, 2 MiB echoes and a
// primes count; then closes the spinner's channel and waits for it to end.
func checkSpinning(t *testing.T, g *gateway.Gateway) {
	t.Helper()
	spin := remoteExec(t, g, "spin")
	echo := remoteExec(t, g, "echo")
	testutil.WaitStarted(t, spin)
	big := bytes.Repeat([]byte("spinning"), 256<<10)
	for i := range 3 {
		took := within(t, spinBound, fmt.Sprintf("2 MiB echo %d while a guest spins", i), func() {
			if err := echo.SendContext(ctxFor(t, testutil.WaitTimeout), big); err != nil {
				t.Fatal(err)
			}
			v, err := echo.Receive(ctxFor(t, testutil.WaitTimeout))
			if b, _ := v.([]byte); err != nil || !bytes.Equal(b, big) {
				t.Fatalf("echo: %d bytes, %v", len(b), err)
			}
		})
		t.Logf("2 MiB echo %d while a guest spins: %v", i, took)
	}
	if got := runPrimes(t, g, [][2]int64{{0, 100000}}); len(got) != 1 || got[0] != 9592 {
		t.Fatalf("primes beside a spinning guest: %v", got)
	}
	echo.Close()
	spin.Close()
	took := within(t, spinBound, "Channel.Close until the spinning guest ended", func() {
		testutil.WaitFor(t, "the agent to run nothing", func() bool {
			st, err := g.RemoteStatus(ctxFor(t, testutil.WaitTimeout))
			if err != nil {
				t.Fatal(err)
			}
			return st.Executing == 0
		})
	})
	t.Logf("Channel.Close until the spinning guest ended: %v", took)
}

func TestSpinningGuestSSH(t *testing.T) {
	warm(t)
	s := startSSHD(t)
	home := s.ClientHome(t, false, false)
	kh := filepath.Join(home, "kh")
	if err := os.WriteFile(kh, []byte(s.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := makeGateway(t, fmt.Sprintf("ssh=%s@%s//identity=%s//known_hosts=%s", s.User, s.Addr(), s.UserKey, kh))
	checkSpinning(t, g)
	// Exit with a guest still spinning leaves no agent behind.
	testutil.WaitStarted(t, remoteExec(t, g, "spin"))
	exitGateway(t, g)
	waitNoProcs(t, s.agentProcs(), spinBound)
}

func TestSpinningGuestSocket(t *testing.T) {
	k := newServeKeys(t)
	clientKey, authorized := k.client("client_key")
	serve := k.start(authorized, "")
	spec := k.spec(serve, clientKey)

	g := makeGateway(t, spec)
	checkSpinning(t, g)

	// Terminate ends the spinning guest: serve goes on answering.
	grp := gateway.NewGroup(gateway.WithGatewayOptions(gateway.WithOutput(&testutil.SyncBuffer{})))
	if _, err := grp.MakeGateway(ctxFor(t, testutil.WaitTimeout), spec); err != nil {
		t.Fatal(err)
	}
	mc, err := grp.RemoteExec(ctxFor(t, testutil.WaitTimeout), loadModule(t, "spin"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitStarted(t, mc.Channels()[0])
	within(t, spinBound, "Group.Terminate of a spinning guest over socket=", func() { grp.Terminate(2 * time.Second) })
	if got := runEcho(t, g, []any{"after terminate"}); len(got) != 1 {
		t.Fatalf("echo after another client's Terminate: %v", got)
	}

	// SIGTERM stops serve while a guest spins in it.
	testutil.WaitStarted(t, remoteExec(t, g, "spin"))
	if err := serve.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve.cmd.Wait() }()
	select {
	case err := <-done:
		t.Logf("serve after SIGTERM: %v", err)
	case <-time.After(spinBound):
		t.Fatalf("wasmnet serve still runs %v after SIGTERM with a spinning guest", spinBound)
	}
}
