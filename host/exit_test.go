package host

import (
	"os"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// TestExitIsEndOfInput: when the client exits, a guest waiting in receive
// sees the end of its input and returns as it does at any end, instead of
// failing with "unavailable" (issue 17, item 7). The echo guests treat
// anything else as an error, which the agent logs.
func TestExitIsEndOfInput(t *testing.T) {
	guests := map[string]string{"go": testwasm.Go(t, "echo"), "c": testwasm.C(t, "echo")}
	for lang, path := range guests {
		t.Run(lang, func(t *testing.T) {
			wasm, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			log := &testutil.SyncBuffer{}
			a := startAgent(t, NewConfig().WithLog(log))
			var chans []*channel.Channel
			for range 4 {
				ch := a.exec(t, wasm, wire.ExecRequest{})
				if err := ch.Send("ready?"); err != nil {
					t.Fatal(err)
				}
				if v, err := ch.Receive(t.Context()); err != nil || v != "ready?" {
					t.Fatalf("echo: %v, %v", v, err)
				}
				chans = append(chans, ch)
			}
			// Every guest now waits in receive.
			if err := a.exit(t); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if s := log.String(); strings.Contains(s, "execution") {
				t.Errorf("guests failed at the client's exit:\n%s", s)
			}
		})
	}
}
