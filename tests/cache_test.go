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
	addr := startServeProc(t, "", "--insecure-plain").addr
	g := makeGateway(t, "socket="+addr+"//insecure_plain")
	for _, prune := range []bool{false, true} {
		_, err := g.RemoteCache(ctxFor(t, time.Minute), prune, 0)
		if err == nil || !strings.Contains(err.Error(), "refuses cache requests") || !strings.Contains(err.Error(), "--allow-cache-requests") {
			t.Errorf("prune=%v: got %v, want a refusal naming --allow-cache-requests", prune, err)
		}
	}
}
