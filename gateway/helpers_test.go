package gateway

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// syncBuffer collects guest output written from the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// popen starts a real agent process from the current sources, ended when
// the test ends.
func popen(t testing.TB, spec string, opts ...Option) *Gateway {
	t.Helper()
	opts = append([]Option{WithAgentPath(testwasm.Agent(t)), WithOutput(&syncBuffer{})}, opts...)
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
