package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout) // a hang, not a goal
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
	return loadModule(t, testwasm.Go(t, name))
}

func loadModule(t testing.TB, path string) Module {
	t.Helper()
	m, err := LoadModule(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// everySDK returns example name as each guest SDK builds it, by language.
func everySDK(t testing.TB, name string) map[string]Module {
	t.Helper()
	return map[string]Module{
		"go":   loadModule(t, testwasm.Go(t, name)),
		"c":    loadModule(t, testwasm.C(t, name)),
		"rust": loadModule(t, testwasm.Rust(t, name)),
	}
}
