package gateway

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestKilledClientLeavesNoAgent kills a client process outright and checks
// that its agent notices and exits.
func TestKilledClientLeavesNoAgent(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperClientProcess$")
	cmd.Env = append(os.Environ(), "WASMNET_HELPER_CLIENT="+testwasm.Agent(t))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper client said nothing: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "agent pid "))
	if err != nil {
		t.Fatalf("helper client said %q", line)
	}
	if !testutil.ProcessRunning(pid) {
		t.Fatalf("agent %d is not running", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	testutil.WaitProcessEnded(t, pid)
}

// TestHelperClientProcess is the client that TestKilledClientLeavesNoAgent
// kills; it does nothing in a normal test run.
func TestHelperClientProcess(t *testing.T) {
	agent := os.Getenv("WASMNET_HELPER_CLIENT")
	if agent == "" {
		return
	}
	g, err := Make(testCtx(t), "popen", WithAgentPath(agent))
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("agent pid " + strconv.Itoa(g.Info().PID) + "\n")
	time.Sleep(time.Minute)
}

func TestNotWebAssembly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fake.wasm")
	os.WriteFile(path, []byte("#!/bin/sh\necho hello\n"), 0o644)
	if _, err := LoadModule(path); err == nil || !strings.Contains(err.Error(), "not a WebAssembly module") {
		t.Fatalf("LoadModule: got %v", err)
	}
	g := popen(t, "popen")
	_, err := g.RemoteExec(testCtx(t), ModuleBytes([]byte("\x00asm garbage after the magic")))
	if err == nil || !strings.Contains(err.Error(), "invalid WebAssembly") {
		t.Fatalf("RemoteExec of garbage: got %v", err)
	}
	checkAgentAlive(t, g)
}

// wasmImporting is a minimal module that imports module.name as a function
// of no parameters returning i32, and exports _start.
func wasmImporting(module, name string) []byte {
	vec := func(b ...byte) []byte { return append([]byte{byte(len(b))}, b...) }
	str := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	section := func(id byte, body []byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	types := append([]byte{2}, append([]byte{0x60, 0, 1, 0x7f}, 0x60, 0, 0)...)
	imp := append([]byte{1}, append(append(str(module), str(name)...), 0x00, 0)...)
	funcs := vec(1)
	exports := append([]byte{1}, append(str("_start"), 0x00, 1)...)
	code := append([]byte{1}, vec(0, 0x0b)...)
	out := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range []struct {
		id   byte
		body []byte
	}{{1, types}, {2, imp}, {3, funcs}, {7, exports}, {10, code}} {
		out = append(out, section(s.id, s.body)...)
	}
	return out
}

func TestImportTheABILacks(t *testing.T) {
	g := popen(t, "popen")
	_, err := g.RemoteExec(testCtx(t), ModuleBytes(wasmImporting("wasmnet", "teleport")))
	if err == nil || !strings.Contains(err.Error(), "wasmnet.teleport") || !strings.Contains(err.Error(), "lacks") {
		t.Fatalf("got %v, want an error naming wasmnet.teleport", err)
	}
	_, err = g.RemoteExec(testCtx(t), ModuleBytes(wasmImporting("env", "open")))
	if err == nil || !strings.Contains(err.Error(), "env.open") {
		t.Fatalf("got %v, want an error naming env.open", err)
	}
	checkAgentAlive(t, g)
}

func TestNewerABIVersion(t *testing.T) {
	g := popen(t, "popen")
	_, err := g.RemoteExec(testCtx(t), ModuleBytes(wasmImporting("wasmnet", "abi_v2")))
	if err == nil || !strings.Contains(err.Error(), "ABI v2") || !strings.Contains(err.Error(), "ABI v1") {
		t.Fatalf("got %v, want an error naming both ABI versions", err)
	}
}

func TestUnknownExport(t *testing.T) {
	g := popen(t, "popen")
	_, err := g.RemoteExec(testCtx(t), module(t, "echo"), WithEntry("no_such_function"))
	if err == nil || !strings.Contains(err.Error(), `"no_such_function"`) {
		t.Fatalf("got %v, want an error naming the export", err)
	}
	checkAgentAlive(t, g)
}

func TestReactorEntry(t *testing.T) {
	g := popen(t, "popen")
	ch := remoteExec(t, g, "reactor", WithEntry("run"))
	ch.Send("via export")
	if v := receive(t, ch); v != "via export" {
		t.Fatalf("got %v", v)
	}
}

func checkAgentAlive(t *testing.T, g *Gateway) {
	t.Helper()
	ch := remoteExec(t, g, "echo")
	ch.Send("ok")
	if v := receive(t, ch); v != "ok" {
		t.Fatalf("agent broken after bad input: got %v", v)
	}
	ch.Close()
}

func TestSandboxGrantsNothingByDefault(t *testing.T) {
	g := popen(t, "popen//env:SECRET=should-not-leak")
	ch := remoteExec(t, g, "sandbox", WithArgs("a1"))
	v := receive(t, ch).(map[string]any)
	if env := v["env"].([]any); len(env) != 0 {
		t.Errorf("guest sees environment %v", env)
	}
	if args := v["args"].([]any); len(args) != 2 || args[1] != "a1" {
		t.Errorf("guest sees args %v", args)
	}
	if _, ok := v["files"].(string); !ok {
		t.Errorf("guest could list /: %v", v["files"])
	}
	if v["readetc"] == "" {
		t.Errorf("guest could read /etc/passwd")
	}
	granted := remoteExec(t, g, "sandbox", WithEnv("GIVEN=yes"), WithDir(t.TempDir(), "/", true))
	w := receive(t, granted).(map[string]any)
	if env := w["env"].([]any); len(env) != 1 || env[0] != "GIVEN=yes" {
		t.Errorf("granted environment: %v", env)
	}
	if _, ok := w["files"].([]any); !ok {
		t.Errorf("granted directory not listable: %v", w["files"])
	}
}
