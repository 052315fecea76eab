package channel

import (
	"context"
	"io"
	"net"
	"os"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testutil"
)

// osPipeConn joins two kernel pipes into one connection end: buffered,
// like the stdio of an agent process.
type osPipeConn struct {
	r *os.File
	w *os.File
}

func (c osPipeConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c osPipeConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c osPipeConn) Close() error {
	c.w.Close()
	return c.r.Close()
}

func osPipePair(t testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser) {
	r1, w1, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return osPipeConn{r1, w2}, osPipeConn{r2, w1}
}

func tcpPair(t testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return a, <-accepted
}

func netPipePair(t testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser) {
	a, b := net.Pipe()
	return a, b
}

// transports are the links every behaviour is tested over: a buffered
// kernel pipe, net.Pipe (no buffering, which shakes out deadlocks) and
// loopback TCP.
var transports = []struct {
	name string
	pair func(testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser)
}{
	{"Pipe", osPipePair},
	{"NetPipe", netPipePair},
	{"TCP", tcpPair},
}

// muxPair returns a client and an agent mux joined by pair, closed when the
// test ends.
func muxPair(t testing.TB, pair func(testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser), client, agent *Config) (*Mux, *Mux) {
	t.Helper()
	a, b := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	defer cancel()
	type result struct {
		m   *Mux
		err error
	}
	agentDone := make(chan result, 1)
	go func() {
		m, err := NewMux(ctx, b, RoleAgent, agent)
		agentDone <- result{m, err}
	}()
	cm, err := NewMux(ctx, a, RoleClient, client)
	if err != nil {
		t.Fatal(err)
	}
	r := <-agentDone
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		cm.Close()
		r.m.Close()
	})
	return cm, r.m
}

// channelPair opens a channel on the client side and returns both ends.
func channelPair(t testing.TB, cm, am *Mux) (*Channel, *Channel) {
	t.Helper()
	c, err := cm.OpenChannel()
	if err != nil {
		t.Fatal(err)
	}
	a, err := am.Accept(testCtx(t))
	if err != nil {
		t.Fatalf("accepting channel %d: %v", c.ID(), err)
	}
	if a.ID() != c.ID() {
		t.Fatalf("accepted channel %d, want %d", a.ID(), c.ID())
	}
	return c, a
}

func eachTransport(t *testing.T, fn func(t *testing.T, cm, am *Mux)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cm, am := muxPair(t, tr.pair, nil, nil)
			fn(t, cm, am)
		})
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	t.Cleanup(cancel)
	return ctx
}
