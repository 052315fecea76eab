package channel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"

	"github.com/wasmnet/wasmnet/channel"
)

// connect joins a client and an agent multiplexer over an in-memory pipe;
// in wasmnet the pipe is an agent's stdio, an SSH session or TCP.
func connect() (client, agent *channel.Mux) {
	a, b := net.Pipe()
	done := make(chan *channel.Mux)
	go func() {
		m, err := channel.NewMux(context.Background(), b, channel.RoleAgent, nil)
		if err != nil {
			log.Fatal(err)
		}
		done <- m
	}()
	client, err := channel.NewMux(context.Background(), a, channel.RoleClient, nil)
	if err != nil {
		log.Fatal(err)
	}
	return client, <-done
}

// peerOf waits for the agent's end of a channel the client opened.
func peerOf(m *channel.Mux, ch *channel.Channel) *channel.Channel {
	p, err := m.Accept(context.Background())
	if err != nil || p.ID() != ch.ID() {
		log.Fatalf("accepted %v, %v; want %v", p, err, ch)
	}
	return p
}

func ExampleChannel_Receive() {
	client, agent := connect()
	defer client.Close()
	defer agent.Close()
	ch, _ := client.OpenChannel()
	peer := peerOf(agent, ch)

	peer.Send(map[string]any{"answer": 42})
	peer.CloseWithError("no more answers")

	ctx := context.Background()
	v, err := ch.Receive(ctx)
	fmt.Println(v, err)
	_, err = ch.Receive(ctx)
	var remote *channel.RemoteError
	fmt.Println(errors.As(err, &remote), remote.Message)
	_, err = ch.Receive(ctx)
	fmt.Println(err == io.EOF)
	// Output:
	// map[answer:42] <nil>
	// true no more answers
	// true
}

// ReceiveRawFunc lends each message to a function that consumes it at
// once, here by writing it out, so that the channel can reuse its memory.
func ExampleChannel_ReceiveRawFunc() {
	client, agent := connect()
	defer client.Close()
	defer agent.Close()
	ch, _ := client.OpenChannel()
	peer := peerOf(agent, ch)

	go func() {
		peer.Send("first")
		peer.Send(2)
		peer.Close()
	}()
	var err error
	for err == nil {
		err = ch.ReceiveRawFunc(context.Background(), func(msg []byte) error {
			fmt.Printf("% x\n", msg) // msgpack bytes, valid only until return
			return nil
		})
	}
	fmt.Println(err)
	// Output:
	// a5 66 69 72 73 74
	// 02
	// EOF
}

func ExampleChannel_SetCallback() {
	client, agent := connect()
	defer client.Close()
	defer agent.Close()
	ch, _ := client.OpenChannel()
	peer := peerOf(agent, ch)

	done := make(chan struct{})
	ch.SetCallback(func(v any) {
		fmt.Println("got", v)
		if v == "END" {
			close(done)
		}
	}, "END")
	peer.Send("one")
	peer.Send("two")
	peer.Close()
	<-done
	// Output:
	// got one
	// got two
	// got END
}

func ExampleMux_OpenChannel() {
	client, agent := connect()
	defer client.Close()
	defer agent.Close()
	ch, _ := client.OpenChannel()
	peer := peerOf(agent, ch)

	// A channel is a value too: send a reply channel inside a message.
	reply, _ := client.OpenChannel()
	ch.Send(map[string]any{"reply": reply})
	v, _ := peer.Receive(context.Background())
	v.(map[string]any)["reply"].(*channel.Channel).Send("over the reply channel")

	got, _ := reply.Receive(context.Background())
	fmt.Println(got)
	// Output: over the reply channel
}
