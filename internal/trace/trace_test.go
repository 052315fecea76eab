package trace

import (
	"bytes"
	"strings"
	"testing"
)

// A relayed line comes from another process: whatever it holds, it stays
// one line on the client's terminal, bounded in length, with no escape
// sequence or bidi override left raw.
func TestRelayedEscapes(t *testing.T) {
	var buf bytes.Buffer
	tr := New(&buf, "client")
	tr.Relayed("agent[1]@gw0", "red \x1b[31m\nnext\r\u202eevil\xff"+strings.Repeat("x", 2*MaxRelayed))
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "...\n") {
		t.Errorf("not one cut line: %q", out[:min(len(out), 200)])
	}
	for _, raw := range []string{"\x1b", "\r", "\u202e", "\xff"} {
		if strings.Contains(out, raw) {
			t.Errorf("%q left raw in %q", raw, out[:100])
		}
	}
	if want := ` agent[1]@gw0 red \x1b[31m\nnext\r\u202eevil\xff`; !strings.Contains(out, want) {
		t.Errorf("got %q, want it to contain %q", out[:100], want)
	}
	if len(out) > MaxRelayed+100 {
		t.Errorf("line of %d bytes", len(out))
	}
}

// TestPrintfEscapes: a traced event often quotes a peer's text (a guest's
// error, an agent's version), which must not move the terminal.
func TestPrintfEscapes(t *testing.T) {
	var b strings.Builder
	New(&b, "client").Printf("channel closed: %v", "x\x1b]0;pwned\x07\x1b[2J\nnext")
	if got := b.String(); strings.ContainsAny(got[:len(got)-1], "\x1b\x07\n") {
		t.Errorf("Printf wrote a peer's text raw: %q", got)
	}
}
