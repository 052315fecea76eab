package gateway

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

var longTests = flag.Bool("long", os.Getenv("WASMNET_LONG") != "", "run the long versions of soak tests (also WASMNET_LONG=1)")

// workerTasks runs tasks tasks through one replier guest, execnet's
// pattern: each task carries a new reply channel that the guest answers
// on. With keep, the guest leaves its reply channels open and the client
// closes them. A few tasks are in flight at once, as a pool would have.
func workerTasks(t testing.TB, g *Gateway, tasks int, keep bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var opts []ExecOption
	if keep {
		opts = append(opts, WithArgs("keep"))
	}
	main, err := g.RemoteExec(ctx, module(t, "replier"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer main.Close()
	const inFlight = 16
	pending := make(chan *channel.Channel, inFlight)
	sendErr := make(chan error, 1)
	go func() {
		defer close(pending)
		for i := range tasks {
			reply, err := g.NewChannel()
			if err == nil {
				err = main.SendContext(ctx, map[string]any{"reply": reply, "n": i})
			}
			if err != nil {
				sendErr <- fmt.Errorf("task %d: %w", i, err)
				return
			}
			select {
			case pending <- reply:
			case <-ctx.Done():
				return
			}
		}
	}()
	i := 0
	for reply := range pending {
		// Bounded, so that a reply that never comes fails the test
		// naming its task rather than hanging it.
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
		v, err := reply.Receive(rctx)
		rcancel()
		if err != nil {
			t.Fatalf("task %d: reply: %v", i, err)
		}
		if v != int64(i+1) {
			t.Fatalf("task %d: reply %v, want %d", i, v, i+1)
		}
		reply.Close()
		i++
	}
	select {
	case err := <-sendErr:
		t.Fatal(err)
	default:
	}
	if i != tasks {
		t.Fatalf("%d tasks answered, want %d", i, tasks)
	}
	// The worker is still healthy: it answers once more and ends cleanly.
	main.Send(nil)
	if _, err := main.Receive(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("worker end: %v, want EOF", err)
	}
}

func TestWorkerOutlivesHandleLimit(t *testing.T) {
	tasks := 100_000 // more than the 65,536 channels a guest may hold at once
	if testing.Short() {
		tasks = 70_000
	}
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%v", keep), func(t *testing.T) {
			g, err := Make(testCtx(t), "inproc", withInproc(), WithOutput(&testutil.SyncBuffer{}))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Exit(testCtx(t))
			workerTasks(t, g, tasks, keep)
		})
	}
}

// TestWorkerMillionTasks is issue 17's acceptance run: go test -long -run
// TestWorkerMillionTasks ./gateway (about a minute on 2 cores).
func TestWorkerMillionTasks(t *testing.T) {
	if !*longTests {
		t.Skip("long test: run with -long or WASMNET_LONG=1")
	}
	g, err := Make(testCtx(t), "inproc", withInproc(), WithOutput(&testutil.SyncBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Exit(testCtx(t))
	start := time.Now()
	workerTasks(t, g, 1_000_000, false)
	t.Logf("1,000,000 tasks in %v", time.Since(start))
}

// TestHandleLimitRefusalClosesBothSides: a guest that holds every channel
// it may cannot take one more; the channel is then closed with an error,
// so the client waiting on it does not wait forever.
func TestHandleLimitRefusalClosesBothSides(t *testing.T) {
	g, err := Make(testCtx(t), "inproc", withInproc(), WithOutput(&testutil.SyncBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Exit(testCtx(t))
	ctx := testCtx(t)
	// keep: the guest never closes a reply channel, and the client does
	// not either, so each stays open and held.
	main := remoteExec(t, g, "replier", WithArgs("keep"))
	const limit = 1 << 16
	var held []*channel.Channel
	var prev, last *channel.Channel
	for i := range limit + 1 {
		reply, err := g.NewChannel()
		if err != nil {
			t.Fatal(err)
		}
		if err := main.Send(map[string]any{"reply": reply, "n": i}); err != nil {
			t.Fatal(err)
		}
		prev, last = last, reply
		if i < limit-1 {
			held = append(held, reply)
			// Read the answer so the client's window does not fill,
			// but leave the channel open.
			if _, err := reply.Receive(ctx); err != nil {
				t.Fatalf("task %d: %v", i, err)
			}
		}
	}
	// The guest holds main and limit-1 replies: the last two tasks'
	// channels cannot be handed over, and are closed with an error.
	for _, reply := range []*channel.Channel{prev, last} {
		_, err := reply.Receive(ctx)
		var remote *channel.RemoteError
		if !errors.As(err, &remote) || !strings.Contains(remote.Message, "not handed to the guest") {
			t.Fatalf("receive on a channel the guest could not take: %v, want a remote error saying so", err)
		}
	}
	// Channels the client closes make room again.
	for _, reply := range held[:10] {
		reply.Close()
	}
	reply, err := g.NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	if err := main.Send(map[string]any{"reply": reply, "n": 41}); err != nil {
		t.Fatal(err)
	}
	if v, err := reply.Receive(ctx); err != nil || v != int64(42) {
		t.Fatalf("after room was made: %v, %v; want 42", v, err)
	}
}
