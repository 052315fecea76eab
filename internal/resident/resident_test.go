package resident

import (
	"strings"
	"testing"
)

// TestParseStarted checks that the line a remote starter prints is taken
// only in its exact form: it names the socket a client will connect to.
func TestParseStarted(t *testing.T) {
	p := PathsFor("/home/u/.cache/wasmnet/resident", "0123456789abcdef0123")
	got, err := ParseStarted(strings.TrimSuffix(Started(p), "\n"))
	if err != nil || got != p {
		t.Fatalf("ParseStarted(Started(p)) = %+v, %v; want %+v", got, err, p)
	}
	for _, line := range []string{
		"",
		"wasmnet-resident-socket",
		"wasmnet-resident-socket 0123456789abcdef0123",
		"wasmnet-resident-socket 0123456789abcdef0123 relative/r-0123456789abcdef0123.sock",
		"wasmnet-resident-socket 0123456789abcdef0123 /tmp/r-ffffffffffffffffffff.sock",
		"wasmnet-resident-socket 0123456789ABCDEF0123 /tmp/r-0123456789ABCDEF0123.sock",
		"wasmnet-resident-socket ../../../../etc/passw /tmp/r-../../../../etc/passw.sock",
		"other 0123456789abcdef0123 /tmp/r-0123456789abcdef0123.sock",
	} {
		if p, err := ParseStarted(line); err == nil {
			t.Errorf("ParseStarted(%q) = %+v, want an error", line, p)
		}
	}
}
