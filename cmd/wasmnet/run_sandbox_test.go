package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// A guest's escape sequences (window title, clear screen, C1 CSI, DEL,
// a right-to-left override) reach the terminal escaped, whether they come
// as its output, its error or a value; --json output is unchanged.
func TestSecurityRunEscapesGuestText(t *testing.T) {
	const attack = "\x1b]0;pwned\x07\x1b[2J\u009b31m\x7f\u202eevil"
	const escaped = `\x1b]0;pwned\x07\x1b[2J\u009b31m\x7f\u202eevil`
	attackJSON, _ := json.Marshal(attack)

	_, stderr, code := wasmnet(t, "run", "-g", "popen", "--send", string(attackJSON), testwasm.Go(t, "panic"))
	if code != 1 || strings.ContainsAny(stderr, "\x1b\x07\x7f\u009b\u202e") {
		t.Errorf("a panicking guest's text reached stderr raw (exit status %d):\n%q", code, stderr)
	}
	// Its stderr line ([gw0 ch1 err] panic: ...) and its error both.
	if n := strings.Count(stderr, escaped); n < 2 {
		t.Errorf("want the panic escaped in the guest's output and in its error, got it %d times:\n%s", n, stderr)
	}

	out, stderr, code := wasmnet(t, "run", "-g", "popen", "--take", "1", "--send", string(attackJSON), testwasm.Go(t, "echo"))
	if code != 0 || strings.ContainsAny(out, "\x1b\x07\x7f\u009b\u202e") || !strings.Contains(out, `\u009b31m\x7f\u202eevil`) {
		t.Errorf("a value (exit status %d): stdout %q\n%s", code, out, stderr)
	}
	out, stderr, code = wasmnet(t, "run", "-g", "popen", "--take", "1", "--json", "--send", string(attackJSON), testwasm.Go(t, "echo"))
	var rec struct{ Value string }
	if err := json.Unmarshal([]byte(firstRecord(out)), &rec); code != 0 || err != nil || rec.Value != attack {
		t.Errorf("--json (exit status %d, %v): got %q, want the value unchanged\n%s", code, err, out, stderr)
	}
}

func TestEscapeControls(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text, Ünïcödé, 日本\tand tabs\n", "plain text, Ünïcödé, 日本\tand tabs\n"},
		{"line\r\n", "line\n"},
		{"over\rwrite", `over\x0dwrite`},
		{"\x1b[2J\x1b]0;t\x07", `\x1b[2J\x1b]0;t\x07`},
		{"\u009b1m\u0085", `\u009b1m\u0085`},
		{"a\u202eb\u2066c\u200fd", `a\u202eb\u2066c\u200fd`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
		{"del\x7f nul\x00", `del\x7f nul\x00`},
		{"\ufffd is a rune", "\ufffd is a rune"},
	}
	for _, tt := range tests {
		if got := escapeControls(tt.in); got != tt.want {
			t.Errorf("escapeControls(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Text written in pieces, a rune cut in two among them.
	var w strings.Builder
	ew := &escapingWriter{w: &w}
	in := "日本\x1b[2J\u009bÜ\n"
	for i := range len(in) {
		ew.Write([]byte(in[i : i+1]))
	}
	if got, want := w.String(), `日本\x1b[2J\u009bÜ`+"\n"; got != want {
		t.Errorf("written a byte at a time: %q, want %q", got, want)
	}
	var b strings.Builder
	counts{"\x1b[31mred": 2}.print(&b, 0, false)
	if got := b.String(); got != `2 \x1b[31mred`+"\n" {
		t.Errorf("merged counts: %q", got)
	}
}

func TestParseDirGrant(t *testing.T) {
	tests := []struct {
		in          string
		host, guest string
		ro          bool
		err         bool
	}{
		{in: "/srv/data", host: "/srv/data", guest: "/srv/data"},
		{in: ".", host: ".", guest: "."},
		{in: "/srv/data:/data", host: "/srv/data", guest: "/data"},
		{in: "/srv/data:/data:ro", host: "/srv/data", guest: "/data", ro: true},
		{in: "/srv/data:ro", host: "/srv/data", guest: "/srv/data", ro: true},
		{in: "/srv/data::/data", host: "/srv/data", guest: "/data"},
		{in: "a:b:c", err: true},
		{in: ":/data", err: true},
		{in: "/srv:", err: true},
		{in: "", err: true},
	}
	for _, tt := range tests {
		host, guest, ro, err := parseDirGrant(tt.in)
		if (err != nil) != tt.err || err == nil && (host != tt.host || guest != tt.guest || ro != tt.ro) {
			t.Errorf("parseDirGrant(%q) = %q, %q, %v, %v", tt.in, host, guest, ro, err)
		}
	}
}

func TestSandboxFlagsExecOptions(t *testing.T) {
	t.Setenv("WASMNET_TEST_PASSED", "from here")
	f := sandboxFlags{
		dirs:     []string{"/srv:/data:ro"},
		envs:     []string{"A=1=2", "WASMNET_TEST_PASSED"},
		walltime: true, random: true,
		timeLimit: 90 * time.Second, memoryLimit: "512MiB",
	}
	opts, err := f.execOptions()
	if err != nil {
		t.Fatal(err)
	}
	var req wire.ExecRequest
	for _, o := range opts {
		o(&req)
	}
	if len(req.Dirs) != 1 || req.Dirs[0] != (wire.DirGrant{Host: "/srv", Guest: "/data", ReadOnly: true}) ||
		strings.Join(req.Env, ",") != "A=1=2,WASMNET_TEST_PASSED=from here" || !req.Walltime || !req.Random ||
		req.TimeLimit != 90*time.Second || req.MemoryLimit != 512<<20 {
		t.Fatalf("request: %+v", req)
	}
	for _, bad := range []sandboxFlags{
		{envs: []string{"=x"}},
		{envs: []string{"WASMNET_TEST_SURELY_UNSET"}},
		{memoryLimit: "5GiB"},
		{memoryLimit: "1KiB"},
		{memoryLimit: "18446744073709551615GiB"},
		{memoryLimit: "lots"},
		{timeLimit: -time.Second},
	} {
		if _, err := bad.execOptions(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// The flags reach the guest: a read-only grant lets the sandbox guest read
// what it could not, an environment entry shows, and the limits stop it.
func TestRunSandboxFlags(t *testing.T) {
	sandbox := testwasm.Go(t, "sandbox")
	out, stderr, code := wasmnet(t, "run", "-g", "popen", "--json", sandbox)
	var rep struct {
		Value struct {
			Env     []string
			ReadEtc string
		}
	}
	if err := json.Unmarshal([]byte(firstRecord(out)), &rep); code != 0 || err != nil || rep.Value.ReadEtc == "" {
		t.Fatalf("without grants (exit status %d, %v): %s\n%s", code, err, out, stderr)
	}
	out, stderr, code = wasmnet(t, "run", "-g", "popen", "--json", "--dir", "/etc:/etc:ro", "--env", "GREETING=hi", sandbox)
	if err := json.Unmarshal([]byte(firstRecord(out)), &rep); code != 0 || err != nil || rep.Value.ReadEtc != "" ||
		strings.Join(rep.Value.Env, ",") != "GREETING=hi" {
		t.Fatalf("with --dir /etc:/etc:ro --env GREETING=hi (exit status %d, %v): %s\n%s", code, err, out, stderr)
	}
	_, stderr, code = wasmnet(t, "run", "-g", "popen", "--time-limit", "1s", testwasm.Go(t, "spin"))
	if code != 1 || !strings.Contains(stderr, "run-time limit of 1s") {
		t.Errorf("--time-limit 1s on a spinning guest: exit status %d\n%s", code, stderr)
	}
	_, stderr, code = wasmnet(t, "run", "-g", "popen", "--memory-limit", "64KiB", sandbox)
	if code != 1 || !strings.Contains(stderr, "over its limit") {
		t.Errorf("--memory-limit 64KiB: exit status %d\n%s", code, stderr)
	}
}

// TestSecurityRunEscapesInventoryIDs: an inventory is a file others edit
// (SECURITY.md, "Spec strings"), and a gateway id in it may hold escape
// sequences. run escapes the id in each item's prefix, but printed it raw
// in its summary table and in "did not start" lines, so a line of an
// inventory could clear the user's terminal or retitle it. What should
// hold: every id reaches the terminal escaped, as guest text does (or an
// id with control characters is refused as a bad spec, exit status 2).
func TestSecurityRunEscapesInventoryIDs(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "fleet.txt")
	spec := "popen//id=ok\x1b]0;pwned\x07\x1b[2J\n" +
		"ssh=127.0.0.1:1//id=down\x1b]0;pwned\x07\x1b[2J//connect_timeout=1s\n"
	if err := os.WriteFile(inv, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := wasmnet(t, "run", "-g", "@"+inv, "--send", "1", "--take", "1", testwasm.Go(t, "echo"))
	if code != 2 && strings.ContainsAny(stderr, "\x1b\x07") {
		t.Errorf("an inventory's ids reached stderr raw (exit status %d):\n%q", code, stderr)
	}
}

// TestSecurityDebugTraceEscapesGuestText: with --debug (WASMNET_DEBUG=1)
// the client's own trace lines quote a closed channel's error, which is
// the guest's text, and the agent's hello (version, OS), which is the
// agent's: both reached stderr raw, so a guest could retitle or clear the
// terminal of a user debugging it. What should hold: trace lines escape
// what they quote, as run's output and the relayed agent lines do.
func TestSecurityDebugTraceEscapesGuestText(t *testing.T) {
	_, stderr, code := wasmnet(t, "run", "--debug", "-g", "popen", "-c", `fail("x\x1b]0;pwned\x07\x1b[2J")`)
	if code != 1 || strings.ContainsAny(stderr, "\x1b\x07") {
		t.Errorf("a guest's error reached the debug trace raw (exit status %d):\n%q", code, stderr)
	}
}
