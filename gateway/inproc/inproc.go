// Package inproc runs wasmnet agents on goroutines of the calling process,
// joined to their gateways by in-memory pipes: nothing to install or start,
// the transport of tests and examples, and of programs that want the sandbox
// without a second process.
//
// It is a package of its own because it links the agent, and with it the
// WebAssembly runtime, into the program; package gateway alone does not.
// An in-process agent shares the process's working directory and
// environment, so its specs take neither chdir= nor env:; its guests share
// the client's memory and CPU, and the sandbox is the same as any agent's.
package inproc

import (
	"context"
	"errors"
	"io"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/host"
	"github.com/wasmnet/wasmnet/internal/agentpipe"
)

// Transport returns the option that makes "inproc" specs start an agent in
// this process with the default configuration. Pass it to gateway.Make, or
// to a Group with gateway.WithGatewayOptions:
//
//	g := gateway.NewGroup(gateway.WithGatewayOptions(inproc.Transport()))
//	g.MakeGateways(ctx, "4*inproc")
func Transport() gateway.Option { return TransportConfig(agentpipe.DefaultConfig()) }

// TransportConfig is Transport for agents configured by cfg, for example
// with limits of their own.
func TransportConfig(cfg host.Config) gateway.Option {
	return gateway.WithTransport("inproc", func(_ context.Context, sp gateway.Spec) (io.ReadWriteCloser, error) {
		if sp.Value != "" || sp.Chdir != "" || len(sp.Env) > 0 {
			return nil, errors.New("inproc: an in-process agent takes no value, chdir= or env: (it shares this process's)")
		}
		return agentpipe.Start(cfg), nil
	})
}

// Make starts an agent in this process and returns its gateway, as
// gateway.Make(ctx, "inproc", opts...) with Transport does.
func Make(ctx context.Context, opts ...gateway.Option) (*gateway.Gateway, error) {
	return gateway.Make(ctx, "inproc", append(opts, Transport())...)
}
