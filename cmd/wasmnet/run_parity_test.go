package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestRunSource ships source from the command line, as execnet's
// remote_exec(str) does, and from a .star file; a failing script reports
// its backtrace with file:line and exits 1.
func TestRunSource(t *testing.T) {
	out, stderr, code := wasmnet(t, "run", "-g", "2*popen", "--send", "21", "--take", "1",
		"-c", "channel.send(channel.receive() * 2)")
	if code != 0 || strings.Count(out, ": 42\n") != 2 {
		t.Fatalf("-c: exit %d, stdout %q\nstderr: %s", code, out, stderr)
	}

	dir := t.TempDir()
	script := filepath.Join(dir, "greet.star")
	os.WriteFile(script, []byte("print('hi from', argv[0])\nchannel.send(len(argv))\n"), 0o644)
	out, stderr, code = wasmnet(t, "run", "-g", "popen//id=w", script, "--", "a", "b")
	if code != 0 || out != "w: 2\n" || !strings.Contains(stderr, "hi from a") {
		t.Fatalf("script: exit %d, stdout %q\nstderr: %s", code, out, stderr)
	}

	bad := filepath.Join(dir, "bad.star")
	os.WriteFile(bad, []byte("def f(x):\n    return x // 0\n\nf(1)\n"), 0o644)
	_, stderr, code = wasmnet(t, "run", "-g", "popen", bad)
	if code != 1 || !strings.Contains(stderr, "bad.star:4:") || !strings.Contains(stderr, "bad.star:2:") ||
		!strings.Contains(stderr, "division by zero") {
		t.Fatalf("failing script: exit %d, stderr %s", code, stderr)
	}
}

// TestRunViaInOneBatch starts a hop and a gateway behind it from one
// command line, which failed with "group has no gateway hop" when every
// spec started in one parallel batch.
func TestRunViaInOneBatch(t *testing.T) {
	out, stderr, code := wasmnet(t, "run", "-g", "popen//via=hop", "-g", "popen//id=hop", "-c", "channel.send('up')")
	if code != 0 || out != "gw0: \"up\"\nhop: \"up\"\n" && out != "hop: \"up\"\ngw0: \"up\"\n" {
		t.Fatalf("exit %d, stdout %q\nstderr: %s", code, out, stderr)
	}
	_, stderr, code = wasmnet(t, "run", "-g", "popen//id=a//via=b", "-g", "popen//id=b//via=a", "-c", "pass")
	if code == 0 || !strings.Contains(stderr, "cycle") {
		t.Fatalf("a cycle: exit %d, stderr %s", code, stderr)
	}
}

// TestRunDebugTracesEveryProcess checks --debug=FILE: the client and its
// local agents append their events to one file, each line naming its
// process.
func TestRunDebugTracesEveryProcess(t *testing.T) {
	file := filepath.Join(t.TempDir(), "trace.log")
	_, stderr, code := wasmnet(t, "run", "--debug="+file, "-g", "popen//id=d", "--send", "1", "--take", "1", "-c", "channel.send(channel.receive())")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, want := range []string{"client[", "gateway d: starting", "gateway d: up in", "agent[", "agent start",
		"request exec of module", "gateway d: channel 1 closed", "gateway d: agent reaped"} {
		if !strings.Contains(log, want) {
			t.Errorf("trace lacks %q:\n%s", want, log)
		}
	}
	_, stderr, code = wasmnet(t, "run", "--debug", "-g", "popen//id=e", "-c", "pass")
	if code != 0 || !strings.Contains(stderr, "gateway e: up in") {
		t.Errorf("--debug to stderr: exit %d, stderr %s", code, stderr)
	}
}

// TestRunHalfCloses: after the last --send value run half-closes, so a
// guest that loops until its input ends (primes) answers and returns by
// itself, without --take.
func TestRunHalfCloses(t *testing.T) {
	out, stderr, code := wasmnet(t, "run", "-g", "popen//id=p", "--send", "[2, 100000]", testwasm.Go(t, "primes"))
	if code != 0 || out != "p: 9592\n" {
		t.Fatalf("exit %d, stdout %q\nstderr: %s", code, out, stderr)
	}
	// A Starlark guest sees the end of input and answers after it.
	out, stderr, code = wasmnet(t, "run", "-g", "popen//id=s", "--send", "1", "--send", "2", "-c",
		"total = 0\nfor v in channel:\n    total += v\nchannel.send(total)\n")
	if code != 0 || out != "s: 3\n" {
		t.Fatalf("source: exit %d, stdout %q\nstderr: %s", code, out, stderr)
	}
}

// TestRunInproc: the CLI keeps knowing inproc specs, which package gateway
// no longer builds in.
func TestRunInproc(t *testing.T) {
	out, stderr, code := wasmnet(t, "run", "-g", "2*inproc", "--send", "21", "--take", "1",
		"-c", "channel.send(channel.receive() * 2)")
	if code != 0 || out != "gw0: 42\ngw1: 42\n" && out != "gw1: 42\ngw0: 42\n" {
		t.Fatalf("exit %d, stdout %q\nstderr: %s", code, out, stderr)
	}
}

// TestDebugRelaysAgentLines is execnet's TestTracing.test_popen_stderr_tracing:
// with WASMNET_DEBUG=2 (--debug=2) the agent's trace lines reach the
// client's stderr, tagged with the agent's pid and the gateway, beside the
// client's own.
func TestDebugRelaysAgentLines(t *testing.T) {
	out, stderr, code := wasmnet(t, "status", "--debug=2", "--json", "popen//id=r")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var row statusRow
	if err := json.Unmarshal([]byte(out), &row); err != nil || row.Status == nil {
		t.Fatalf("status %q: %v", out, err)
	}
	tag := fmt.Sprintf(" agent[%d]@r ", row.Status.PID)
	for _, want := range []string{"gateway r: up in", tag + fmt.Sprintf("agent pid %d relays its trace", row.Status.PID), tag + "request status"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}
