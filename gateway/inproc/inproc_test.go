package inproc_test

import (
	"context"
	"fmt"
	"log"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/gateway/inproc"
	"github.com/wasmnet/wasmnet/host"
)

// A Group learns the inproc type from an option, so two groups may differ.
func ExampleTransport() {
	ctx := context.Background()
	group := gateway.NewGroup(gateway.WithGatewayOptions(inproc.Transport()))
	defer group.Terminate(5 * time.Second)
	gws, err := group.MakeGateways(ctx, "2*inproc")
	if err != nil {
		log.Fatal(err)
	}
	for _, gw := range gws {
		fmt.Println(gw.ID(), gw.Spec())
	}
	// Output:
	// gw0 inproc//id=gw0
	// gw1 inproc//id=gw1
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestMake(t *testing.T) {
	ctx := testCtx(t)
	gw, err := inproc.Make(ctx, gateway.WithID("here"))
	if err != nil {
		t.Fatal(err)
	}
	if gw.ID() != "here" || gw.Spec().Type != "inproc" {
		t.Errorf("id %q, type %q", gw.ID(), gw.Spec().Type)
	}
	if err := gw.Exit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gw.Done():
	default:
		t.Fatal("Exit returned before the agent ended")
	}
}

// TestSpecKeys: what an in-process agent cannot honour is an error, not
// silently ignored.
func TestSpecKeys(t *testing.T) {
	ctx := testCtx(t)
	for _, spec := range []string{"inproc//chdir=/tmp", "inproc//env:A=1", "inproc//agent=x", "inproc=x"} {
		if gw, err := gateway.Make(ctx, spec, inproc.Transport()); err == nil {
			gw.Exit(ctx)
			t.Errorf("%s: made a gateway, want an error", spec)
		}
	}
}

// TestTransportConfig: the agent runs with the configuration given, as its
// status shows.
func TestTransportConfig(t *testing.T) {
	ctx := testCtx(t)
	cfg := host.NewConfig().WithVersion("v9.9.9-test")
	gw, err := gateway.Make(ctx, "inproc", inproc.TransportConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Exit(ctx)
	st, err := gw.RemoteStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != "v9.9.9-test" || gw.Info().Version != "v9.9.9-test" {
		t.Fatalf("status version %q, hello %q; want the configured one", st.Version, gw.Info().Version)
	}
}
