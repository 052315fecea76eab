package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// popen starts a real agent process from the current sources, ended when
// the test ends.
func popen(t testing.TB, spec string, opts ...Option) *Gateway {
	t.Helper()
	opts = append([]Option{WithAgentPath(testwasm.Agent(t)), WithOutput(&testutil.SyncBuffer{})}, opts...)
	g, err := Make(testCtx(t), spec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Exit(ctx)
	})
	return g
}

func module(t testing.TB, name string) Module {
	t.Helper()
	m, err := LoadModule(testwasm.Go(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
