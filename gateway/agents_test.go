package gateway

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestAgentForPlatform(t *testing.T) {
	// This test binary is not an agent: it must never be offered as one.
	t.Setenv("PATH", t.TempDir())
	t.Setenv("WASMNET_AGENT", "")
	t.Setenv("WASMNET_DIST", "")
	if got, err := agentForPlatform(runtime.GOOS, runtime.GOARCH); err == nil {
		t.Errorf("own platform with no wasmnet around: %q; want an error, not the test binary", got)
	}
	t.Setenv("WASMNET_AGENT", "/opt/wasmnet")
	if got, err := agentForPlatform(runtime.GOOS, runtime.GOARCH); err != nil || got != "/opt/wasmnet" {
		t.Errorf("own platform from $WASMNET_AGENT: %q, %v", got, err)
	}
	t.Setenv("WASMNET_AGENT", "")

	dist := t.TempDir()
	t.Setenv("WASMNET_DIST", dist)
	own := filepath.Join(dist, "wasmnet-"+runtime.GOOS+"-"+runtime.GOARCH)
	os.WriteFile(own, []byte("x"), 0o755)
	if got, err := agentForPlatform(runtime.GOOS, runtime.GOARCH); err != nil || got != own {
		t.Errorf("own platform from $WASMNET_DIST: %q, %v; want %q", got, err, own)
	}
	want := filepath.Join(dist, "wasmnet-plan9-mips")
	os.WriteFile(want, []byte("x"), 0o755)
	if got, err := agentForPlatform("plan9", "mips"); err != nil || got != want {
		t.Errorf("from $WASMNET_DIST: %q, %v; want %q", got, err, want)
	}
	os.WriteFile(filepath.Join(dist, "wasmnet-windows-mips.exe"), []byte("x"), 0o755)
	if got, err := agentForPlatform("windows", "mips"); err != nil || !strings.HasSuffix(got, ".exe") {
		t.Errorf("windows: %q, %v", got, err)
	}
	_, err := agentForPlatform("aix", "ppc64")
	if err == nil || !strings.Contains(err.Error(), "aix/ppc64") || !strings.Contains(err.Error(), "make agents") {
		t.Errorf("missing: %v; want an error naming aix/ppc64 and make agents", err)
	}
}

func TestIsWasmnetExecutable(t *testing.T) {
	for path, want := range map[string]bool{
		"/usr/bin/wasmnet":                 true,
		"/x/dist/wasmnet-linux-amd64":      true,
		"/tmp/go-build1/b001/gateway.test": false,
		"/tmp/wasmnet.test":                false,
		"/usr/bin/myclient":                false,
	} {
		if got := isWasmnetExecutable(path); got != want {
			t.Errorf("isWasmnetExecutable(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestAgentBinariesHonoursAgentPath(t *testing.T) {
	agent := filepath.Join(t.TempDir(), "my-agent")
	os.WriteFile(agent, []byte("x"), 0o755)
	find := agentBinaries(&makeConfig{agentPath: agent})
	if got, err := find(runtime.GOOS, runtime.GOARCH); err != nil || got != agent {
		t.Errorf("own platform: %q, %v; want %q", got, err, agent)
	}
	t.Setenv("WASMNET_DIST", t.TempDir())
	if got, err := find("plan9", "mips"); err == nil {
		t.Errorf("other platform: %q; want agentForPlatform's error", got)
	}
}
