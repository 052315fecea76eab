package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"time"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/gateway/inproc"
	"github.com/wasmnet/wasmnet/host"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// load returns a built example guest. A program would call
// gateway.LoadModule("echo.wasm"); tests build the guests from source.
func load(name string) gateway.Module {
	path, err := testwasm.GoPath(name)
	if err != nil {
		log.Fatal(err)
	}
	m, err := gateway.LoadModule(path)
	if err != nil {
		log.Fatal(err)
	}
	return m
}

// The examples use "inproc" gateways, an agent on goroutines of this
// process that gateway/inproc adds; "popen" or "ssh=host" work the same way
// without it.

func ExampleMake() {
	ctx := context.Background()
	gw, err := gateway.Make(ctx, "inproc//id=local", inproc.Transport())
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Exit(ctx)
	fmt.Println(gw.ID(), gw.Spec().Type)
	// Output: local inproc
}

// NewClient runs a gateway over any stream that reaches an agent: here a
// pipe to an agent this process serves; a net.Conn to `wasmnet serve
// --insecure-plain` or an SSH channel work the same way.
func ExampleNewClient() {
	ctx := context.Background()
	clientEnd, agentEnd := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- host.Serve(ctx, agentEnd, host.NewConfig().WithVersion("v1.2.3")) }()
	gw, err := gateway.NewClient(ctx, clientEnd, gateway.WithID("piped"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(gw.ID(), gw.Info().Version)
	gw.Exit(ctx) // closes clientEnd, so Serve returns
	<-served
	fmt.Println("agent ended")
	// Output:
	// piped v1.2.3
	// agent ended
}

func ExampleGateway_RemoteExec() {
	ctx := context.Background()
	gw, err := gateway.Make(ctx, "inproc", inproc.Transport())
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Exit(ctx)
	ch, err := gw.RemoteExec(ctx, load("echo"))
	if err != nil {
		log.Fatal(err)
	}
	defer ch.Close()
	ch.Send("hello")
	v, err := ch.Receive(ctx)
	fmt.Println(v, err)
	// Output: hello <nil>
}

func ExampleGroup() {
	ctx := context.Background()
	group := gateway.NewGroup(gateway.WithGatewayOptions(inproc.Transport()))
	defer group.Terminate(5 * time.Second)
	if _, err := group.MakeGateways(ctx, "2*inproc", "inproc//id=extra"); err != nil {
		log.Fatal(err)
	}
	for _, gw := range group.Gateways() {
		fmt.Println(gw.ID())
	}
	// Output:
	// gw0
	// gw1
	// extra
}

func ExampleMultiChannel() {
	ctx := context.Background()
	group := gateway.NewGroup(gateway.WithGatewayOptions(inproc.Transport()))
	defer group.Terminate(5 * time.Second)
	if _, err := group.MakeGateways(ctx, "3*inproc"); err != nil {
		log.Fatal(err)
	}
	mc, err := group.RemoteExec(ctx, load("wordcount"))
	if err != nil {
		log.Fatal(err)
	}
	mc.SendEach("to be or not to be")
	mc.SendEach(nil) // the end of the input: each guest answers and returns
	var answers []string
	for {
		ch, counts, err := mc.Receive(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		i := slices.Index(mc.Channels(), ch)
		answers = append(answers, fmt.Sprint(mc.Gateways()[i].ID(), " ", counts))
	}
	slices.Sort(answers) // they arrive in any order
	for _, a := range answers {
		fmt.Println(a)
	}
	// Output:
	// gw0 map[be:2 not:1 or:1 to:2]
	// gw1 map[be:2 not:1 or:1 to:2]
	// gw2 map[be:2 not:1 or:1 to:2]
}

// Source runs a program on a gateway with one call, as execnet's
// gw.remote_exec("...") does.
func ExampleSource() {
	ctx := context.Background()
	gw, err := gateway.Make(ctx, "inproc", inproc.Transport())
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Exit(ctx)
	ch, err := gw.RemoteExec(ctx, gateway.Source("channel.send(channel.receive() * 2)"))
	if err != nil {
		log.Fatal(err)
	}
	ch.Send(21)
	v, err := ch.Receive(ctx)
	fmt.Println(v, err)
	// Output: 42 <nil>
}

// A group made WithMinGateways goes on with the gateways that started when
// others did not, and names the others and why.
func ExampleWithMinGateways() {
	ctx := context.Background()
	g := gateway.NewGroup(gateway.WithGatewayOptions(inproc.Transport()), gateway.WithMinGateways(1))
	defer g.Terminate(5 * time.Second)
	gws, err := g.MakeGateways(ctx, "2*inproc", "exec=/nonexistent/wasmnet agent//id=gone")
	var serr *gateway.StartError
	if errors.As(err, &serr) {
		for _, f := range serr.Failed {
			fmt.Println("did not start:", f.ID)
		}
	}
	for _, gw := range gws {
		fmt.Println("started:", gw.ID())
	}
	// Output:
	// did not start: gone
	// started: gw0
	// started: gw1
}

// With gives a program typed arguments, predeclared as Starlark values,
// as execnet's gw.remote_exec(source, data=[1, 2, 3], factor=10) does.
func ExampleModule_With() {
	ctx := context.Background()
	gw, err := gateway.Make(ctx, "inproc", inproc.Transport())
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Exit(ctx)
	src := gateway.Source("channel.send([x * factor for x in data])").
		With(map[string]any{"data": []any{1, 2, 3}, "factor": 10})
	ch, err := gw.RemoteExec(ctx, src)
	if err != nil {
		log.Fatal(err)
	}
	v, err := ch.Receive(ctx)
	fmt.Println(v, err)
	// Output: [10 20 30] <nil>
}

// The popen gateways of a group share agent processes: here eight
// gateways run on two, each with its own guest. A spec that says
// share=no gets a process of its own, as execnet's popen does.
func ExampleWithSharedAgents() {
	agent, err := testwasm.AgentPath() // a program finds wasmnet on PATH
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	g := gateway.NewGroup(gateway.WithGatewayOptions(gateway.WithAgentPath(agent)), gateway.WithSharedAgents(2))
	defer g.Terminate(5 * time.Second)
	shared, err := g.MakeGateways(ctx, "8*popen")
	if err != nil {
		log.Fatal(err)
	}
	own, err := g.MakeGateway(ctx, "popen//share=no")
	if err != nil {
		log.Fatal(err)
	}
	pids := map[int]bool{}
	for _, gw := range shared {
		pids[gw.Info().PID] = true
	}
	fmt.Println("8 gateways on", len(pids), "processes")
	fmt.Println("share=no on a process of its own:", !pids[own.Info().PID])
	mc, err := g.RemoteExec(ctx, load("echo"))
	if err != nil {
		log.Fatal(err)
	}
	if err := mc.SendEach("hi"); err != nil {
		log.Fatal(err)
	}
	items, err := mc.ReceiveEach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(items), "answers")
	// Output:
	// 8 gateways on 2 processes
	// share=no on a process of its own: true
	// 9 answers
}
