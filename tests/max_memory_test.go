package tests

import (
	"strings"
	"testing"
)

// TestSecurityServeCapsMemoryLimit: serve let any client ask for the whole
// 4 GiB a wasm32 memory holds, so a few executions could exhaust a server.
// What should hold: serve caps the memory limit a client may ask for at
// 1 GiB by default and at --max-memory-limit when given; a request over
// the cap is refused with an error naming the flag, and an execution that
// asks nothing still runs under a cap below the usual default.
func TestSecurityServeCapsMemoryLimit(t *testing.T) {
	k := newServeKeys(t)
	key, line := k.client("c")
	byDefault := k.start(line, "")
	capped := k.start(line, "", "--max-memory-limit", "64MiB")
	for _, tt := range []struct {
		p     *serveProc
		limit string
	}{{byDefault, "2GiB"}, {capped, "128MiB"}} {
		r := runCLI(t, "run", "-g", k.spec(tt.p, key), "--memory-limit", tt.limit, "-c", "print(1)")
		if r.code == 0 || !strings.Contains(r.stderr, "--max-memory-limit") {
			t.Errorf("--memory-limit %s: exit status %d, stderr %q; want it refused naming --max-memory-limit", tt.limit, r.code, r.stderr)
		}
	}
	if r := runCLI(t, "run", "-g", k.spec(capped, key), "-c", "print(1)"); r.code != 0 || !strings.Contains(r.stderr, "out] 1\n") {
		t.Errorf("no --memory-limit under --max-memory-limit 64MiB: exit status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	byDefault.alive(t)
	capped.alive(t)
}
