package gateway_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/host"
)

func clientCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestNewClientOverTCP: a gateway made from a net.Conn the caller dialled
// runs modules and, at Exit, ends the agent that served the connection.
func TestNewClientOverTCP(t *testing.T) {
	ctx := clientCtx(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		served <- host.Serve(ctx, c, host.NewConfig())
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.NewClient(ctx, conn, gateway.WithOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if gw.ID() != "gw0" || gw.Spec().Type != "" {
		t.Errorf("id %q, spec %q; want gw0 and the zero spec", gw.ID(), gw.Spec())
	}
	ch, err := gw.RemoteExec(ctx, load("echo"))
	if err != nil {
		t.Fatal(err)
	}
	ch.Send("over tcp")
	if v, err := ch.Receive(ctx); v != "over tcp" || err != nil {
		t.Fatalf("echo: %v, %v", v, err)
	}
	if err := gw.Exit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("agent: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the agent still serves after Exit")
	}
}

// TestNewClientNotAnAgent: a stream with no agent behind it fails the hello
// and is closed, rather than holding NewClient.
func TestNewClientNotAnAgent(t *testing.T) {
	ctx, cancel := context.WithTimeout(clientCtx(t), 5*time.Second)
	defer cancel()
	clientEnd, other := net.Pipe()
	go io.Copy(io.Discard, other) // reads, never answers
	if _, err := gateway.NewClient(ctx, clientEnd); err == nil {
		t.Fatal("a silent peer made a gateway")
	}
	if _, err := clientEnd.Write([]byte{0}); err == nil {
		t.Error("the stream is still open after the failed hello")
	}
	other.Close()
}

func TestInprocNeedsItsPackage(t *testing.T) {
	_, err := gateway.Make(clientCtx(t), "inproc")
	if err == nil || !strings.Contains(err.Error(), "gateway/inproc") {
		t.Fatalf("Make(inproc) without inproc.Transport: %v, want an error naming gateway/inproc", err)
	}
	g := gateway.NewGroup()
	if _, err := g.MakeGateways(clientCtx(t), "inproc"); err == nil {
		t.Fatal("a group made an inproc gateway without inproc.Transport")
	}
}

func TestWithTransport(t *testing.T) {
	ctx := clientCtx(t)
	dialErr := errors.New("no route")
	failing := gateway.WithTransport("lab", func(context.Context, gateway.Spec) (io.ReadWriteCloser, error) {
		return nil, dialErr
	})
	if _, err := gateway.Make(ctx, "lab//id=x", failing); !errors.Is(err, dialErr) {
		t.Errorf("a failed dial: %v, want it wrapped", err)
	}
	replace := gateway.WithTransport("popen", func(context.Context, gateway.Spec) (io.ReadWriteCloser, error) {
		t.Error("a built-in type was dialled through WithTransport")
		return nil, dialErr
	})
	if _, err := gateway.Make(ctx, "popen", replace); err == nil || !strings.Contains(err.Error(), "built-in") {
		t.Errorf("replacing popen: %v, want an error", err)
	}
	if _, err := gateway.Make(ctx, "lab//via=gw0", failing); err == nil {
		t.Error("via= on a transport of one's own made a gateway")
	}
}

// TestExitRightAfterNewClient: an Exit at once after the hello exchange,
// over an unbuffered pipe, still delivers the client's hello and its
// goodbye, so the agent ends without an error. Closing the conn as soon as
// the mux ended used to cut the writer's flush, and the agent read EOF
// where the hello should have been.
func TestExitRightAfterNewClient(t *testing.T) {
	ctx := clientCtx(t)
	for i := range 200 {
		clientEnd, agentEnd := net.Pipe()
		served := make(chan error, 1)
		go func() { served <- host.Serve(ctx, agentEnd, host.NewConfig()) }()
		gw, err := gateway.NewClient(ctx, clientEnd, gateway.WithOutput(io.Discard))
		if err != nil {
			t.Fatal(err)
		}
		if err := gw.Exit(ctx); err != nil {
			t.Fatalf("round %d: exit: %v", i, err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Fatalf("round %d: the agent ended with %v", i, err)
			}
		case <-ctx.Done():
			t.Fatalf("round %d: the agent still serves after Exit", i)
		}
	}
}
