package tests

import (
	"testing"
	"time"
)

// uploadsAfterEcho runs the echo guest on a new gateway to spec and returns
// how many modules that gateway had to send the server.
func uploadsAfterEcho(t *testing.T, spec string) int64 {
	t.Helper()
	g := makeGateway(t, spec)
	runEcho(t, g, []any{"tenant"})
	st, err := g.RemoteStatus(ctxFor(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	g.Exit(ctxFor(t, time.Minute))
	return st.ModuleUploads
}

// TestServeTenantsSendTheirOwnModules: the connections of one key share
// what the server compiled for that key, but a module another key ran is
// unknown to a key until it sends the bytes itself, so that no client
// learns by a module's sum what another runs (a module the server keeps
// on disk is no exception).
func TestServeTenantsSendTheirOwnModules(t *testing.T) {
	k := newServeKeys(t)
	keyA, authA := k.client("key_a")
	keyB, authB := k.client("key_b")
	serve := k.start(authA+"\n"+authB, "")
	specA, specB := k.spec(serve, keyA), k.spec(serve, keyB)
	uploadsAfterEcho(t, specA)
	if n := uploadsAfterEcho(t, specA); n != 0 {
		t.Fatalf("a second connection of key A sent the module again (%d uploads)", n)
	}
	if n := uploadsAfterEcho(t, specB); n != 1 {
		t.Fatalf("key B ran key A's module by its sum alone (%d uploads, want 1)", n)
	}
}
