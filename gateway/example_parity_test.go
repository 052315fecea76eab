package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"slices"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/gateway/inproc"
)

// ReceiveItem names the gateway of every item and ends each channel with
// one End entry, as execnet's make_receive_queue(endmarker).
func ExampleMultiChannel_ReceiveItem() {
	ctx := context.Background()
	group := gateway.NewGroup(gateway.WithGatewayOptions(inproc.Transport()))
	defer group.Terminate(5e9)
	if _, err := group.MakeGateways(ctx, "inproc//id=a", "inproc//id=b"); err != nil {
		log.Fatal(err)
	}
	mc, err := group.RemoteExec(ctx, gateway.Source("channel.send(channel.receive() * 10)"))
	if err != nil {
		log.Fatal(err)
	}
	for i, ch := range mc.Channels() {
		ch.Send(i + 1)
	}
	var lines []string
	for {
		it, err := mc.ReceiveItem(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if it.End {
			lines = append(lines, it.Gateway.ID()+" ended")
		} else {
			lines = append(lines, fmt.Sprint(it.Gateway.ID(), " sent ", it.Value))
		}
	}
	slices.Sort(lines)
	fmt.Println(lines)
	// Output: [a ended a sent 10 b ended b sent 20]
}

// CloseSend ends the guest's input while its answer can still come: the
// guest's loop over the channel ends, then it sends the sum.
func Example_closeSend() {
	ctx := context.Background()
	gw, err := gateway.Make(ctx, "inproc", inproc.Transport())
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Exit(ctx)
	ch, err := gw.RemoteExec(ctx, gateway.Source(`
total = 0
for v in channel:
    total += v
channel.send(total)
`))
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range []int{1, 2, 3} {
		ch.Send(v)
	}
	ch.CloseSend()
	sum, err := ch.Receive(ctx)
	fmt.Println(sum, err)
	// Output: 6 <nil>
}
