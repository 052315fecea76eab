package gateway_test

import (
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/gateway/inproc"
)

// TestStartHook: the hook hears of every gateway of a group's start, those
// that start and those that fail, before MakeGateways returns.
func TestStartHook(t *testing.T) {
	var mu sync.Mutex
	var up, failed []string
	hook := gateway.WithStartHook(func(id string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed = append(failed, id)
			return
		}
		up = append(up, id)
	})
	g := gateway.NewGroup(gateway.WithGatewayOptions(hook, inproc.Transport()))
	defer g.Terminate(5 * time.Second)
	if _, err := g.MakeGateways(clientCtx(t), "3*inproc"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.MakeGateways(clientCtx(t), "exec=false//id=bad"); err == nil {
		t.Fatal("exec=false started")
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Strings(up)
	if len(up) != 3 || up[0] != "gw0" || len(failed) != 1 || failed[0] != "bad" {
		t.Fatalf("hook heard of %v up and %v failed, want gw0-gw2 up and bad failed", up, failed)
	}
}
