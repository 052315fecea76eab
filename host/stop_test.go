package host

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// Every way an execution ends stops a guest that computes without calling
// the host, and leaves no goroutine behind (TestMain checks): its time
// limit, its client closing the channel, and the client's exit.
func TestStopSpinningGuest(t *testing.T) {
	wasm, err := os.ReadFile(testwasm.Go(t, "spin"))
	if err != nil {
		t.Fatal(err)
	}
	running := func(a *testAgent) int {
		t.Helper()
		out, err := a.client.Call(t.Context(), channel.KindStatus, nil)
		if err != nil {
			t.Fatal(err)
		}
		var st channel.Status
		if err := msgpack.Unmarshal(out, &st); err != nil {
			t.Fatal(err)
		}
		return st.Executing
	}
	waitIdle := func(a *testAgent) time.Duration {
		t.Helper()
		start := time.Now()
		testutil.WaitFor(t, "the guest to stop", func() bool { return running(a) == 0 })
		return time.Since(start)
	}

	t.Run("time limit", func(t *testing.T) {
		a := startAgent(t, NewConfig())
		ch := a.exec(t, wasm, channel.ExecRequest{TimeLimit: 200 * time.Millisecond})
		var re *channel.RemoteError
		if err := ch.WaitClose(t.Context()); !errors.As(err, &re) || !strings.Contains(re.Message, "run-time limit") {
			t.Fatalf("got %v, want the run-time limit", err)
		}
	})
	t.Run("channel close", func(t *testing.T) {
		a := startAgent(t, NewConfig())
		ch := a.exec(t, wasm, channel.ExecRequest{})
		testutil.WaitStarted(t, ch)
		if n := running(a); n != 1 {
			t.Fatalf("%d executions running, want the spinner", n)
		}
		ch.Close()
		t.Logf("Channel.Close until the guest stopped: %v", waitIdle(a))
	})
	t.Run("client exit", func(t *testing.T) {
		log := &testutil.SyncBuffer{}
		a := startAgent(t, NewConfig().WithLog(log))
		testutil.WaitStarted(t, a.exec(t, wasm, channel.ExecRequest{}))
		start := time.Now()
		if err := a.exit(t); err != nil {
			t.Fatalf("Serve: %v", err)
		}
		t.Logf("exit until Serve returned: %v", time.Since(start))
		if strings.Contains(log.String(), "still running") {
			t.Errorf("Serve returned with the guest running:\n%s", log)
		}
	})
}
