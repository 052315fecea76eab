package tests

import (
	"strings"
	"testing"
	"time"
)

// TestSecurityServeRefusesCacheRequests: a client of a default serve can
// neither list (every client's modules are there) nor prune the server's
// cache, and is told which flag would allow it; a plain server cannot be
// told to allow it.
func TestSecurityServeRefusesCacheRequests(t *testing.T) {
	// A cache of its own: were the refusal broken, the prune would not
	// reach the user's.
	addr := startServeProc(t, "", "--insecure-plain", "--cache-dir", t.TempDir()).addr
	g := makeGateway(t, "socket="+addr+"//insecure_plain")
	for _, prune := range []bool{false, true} {
		_, err := g.RemoteCache(ctxFor(t, time.Minute), prune, 0)
		if err == nil || !strings.Contains(err.Error(), "refuses cache requests") || !strings.Contains(err.Error(), "--allow-cache-requests") {
			t.Errorf("prune=%v: got %v, want a refusal naming --allow-cache-requests", prune, err)
		}
	}
}

// TestSecurityServeCacheRequestsRestrictKey: with --allow-cache-requests a
// client lists the server's cache, but a restrict key is still refused.
func TestSecurityServeCacheRequestsRestrictKey(t *testing.T) {
	k := newServeKeys(t)
	local, localLine := k.client("local")
	restricted, restrictedLine := k.client("restricted")
	p := k.start(localLine+"\nrestrict "+restrictedLine, "", "--allow-cache-requests")
	g := makeGateway(t, k.spec(p, local))
	kinds, err := g.RemoteCache(ctxFor(t, time.Minute), false, 0) // a list only: this is a shared cache
	if err != nil || len(kinds) != 4 || kinds[0].Kind != "compiled" {
		t.Errorf("list with --allow-cache-requests: %v, %+v", err, kinds)
	}
	r := makeGateway(t, k.spec(p, restricted))
	if _, err := r.RemoteCache(ctxFor(t, time.Minute), true, 0); err == nil || !strings.Contains(err.Error(), "refuses cache requests") {
		t.Errorf("prune with a restrict key: got %v, want it refused", err)
	}
	p.alive(t)
}
