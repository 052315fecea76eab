package gateway

import "testing"

func TestSmokeEcho(t *testing.T) {
	g := popen(t, "popen")
	ch, err := g.RemoteExec(testCtx(t), module(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	ch.Send("hi")
	v, err := ch.Receive(testCtx(t))
	if err != nil || v != "hi" {
		t.Fatalf("got %v %v", v, err)
	}
	ch.Close()
}
