package gateway

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestAgentForPlatform(t *testing.T) {
	exe, _ := os.Executable()
	if got, err := agentForPlatform(runtime.GOOS, runtime.GOARCH); err != nil || got != exe {
		t.Errorf("own platform: %q, %v; want %q", got, err, exe)
	}
	dist := t.TempDir()
	t.Setenv("WASMNET_DIST", dist)
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
