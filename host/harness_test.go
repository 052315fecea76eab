package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// testAgent is an agent served on a pipe, with a client mux on the other
// end: what a gateway is, without the gateway package.
type testAgent struct {
	client *channel.Mux
	served chan error

	mu   sync.Mutex
	sums map[*byte]string // of the modules run, by their first byte
}

func startAgent(t testing.TB, cfg Config) *testAgent {
	t.Helper()
	clientEnd, agentEnd := net.Pipe()
	a := &testAgent{served: make(chan error, 1)}
	go func() { a.served <- Serve(context.Background(), agentEnd, cfg) }()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	defer cancel()
	m, err := channel.NewMux(ctx, clientEnd, channel.RoleClient, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.client = m
	t.Cleanup(func() { a.exit(t) })
	return a
}

// exec starts wasm on a new channel, uploading it when the agent asks.
func (a *testAgent) exec(t testing.TB, wasm []byte, req wire.ExecRequest) *channel.Channel {
	t.Helper()
	ch, err := a.execErr(wasm, req)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// execErr is exec for goroutines other than the test's.
func (a *testAgent) execErr(wasm []byte, req wire.ExecRequest) (*channel.Channel, error) {
	// Generous: a Go guest compiles in seconds, or minutes under -race
	// on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ch, err := a.client.OpenChannel()
	if err != nil {
		return nil, err
	}
	req.Module, req.Channel = a.sum(wasm), ch.ID()
	body, err := msgpack.Marshal(&req)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 2; attempt++ {
		out, err := a.client.Call(ctx, wire.KindExec, body)
		if err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
		var reply wire.ExecReply
		if err := msgpack.Unmarshal(out, &reply); err != nil {
			return nil, err
		}
		if !reply.NeedModule {
			return ch, nil
		}
		up, _ := msgpack.Marshal(&wire.ModuleUpload{Module: req.Module, Bytes: wasm})
		if _, err := a.client.Call(ctx, wire.KindModule, up); err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
	}
	return nil, errors.New("the agent asked for the module twice")
}

// sum returns the hex sha256 of wasm, computed once per module.
func (a *testAgent) sum(wasm []byte) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sums == nil {
		a.sums = map[*byte]string{}
	}
	if a.sums[&wasm[0]] == "" {
		sum := sha256.Sum256(wasm)
		a.sums[&wasm[0]] = hex.EncodeToString(sum[:])
	}
	return a.sums[&wasm[0]]
}

// exit does what Gateway.Exit does and waits for Serve to return.
func (a *testAgent) exit(t testing.TB) error {
	t.Helper()
	a.client.Notify(wire.KindTerminate, nil)
	a.client.Close()
	select {
	case err := <-a.served:
		a.served <- err
		return err
	case <-time.After(testutil.WaitTimeout):
		t.Fatalf("the agent did not stop within %v of its exit", testutil.WaitTimeout)
		return nil
	}
}
