package testwasm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// AgentFor returns the path of the wasmnet binary built from the current
// sources for goos/goarch, as `make agents` builds dist/wasmnet-<os>-<arch>:
// CGO_ENABLED=0, -trimpath. It is cached like Agent, keyed by the sources,
// the toolchain and the platform, so only the first call after a change
// builds. It embeds the Starlark interpreter of Starlark(t), as make does.
func AgentFor(t testing.TB, goos, goarch string) string {
	t.Helper()
	root := Root(t)
	goTool := requireTool(t, "go", "to build the wasmnet agent")
	overlay, interp := starlarkOverlay(t, root)
	h := sha256.New()
	fmt.Fprintf(h, "agent-for\x00%s\x00%s\x00%s\x00%s\x00%s\x00", goVersion(t, goTool), os.Getenv("GOFLAGS"), goos, goarch, interp)
	isGo := func(p string) bool { return strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") }
	if err := hashSources(h, root, []string{"go.mod", "go.sum", "abi", "channel", "host", "gateway", "internal", "cmd"}, isGo); err != nil {
		t.Fatalf("testwasm: hashing the agent's sources: %v", err)
	}
	name := "wasmnet-" + goos + "-" + goarch + "-" + hex.EncodeToString(h.Sum(nil))[:20]
	if goos == "windows" {
		name += ".exe"
	}
	return buildCachedFile(t, "wasmnet-"+goos+"-"+goarch, name, func(out string) *exec.Cmd {
		cmd := exec.Command(goTool, "build", "-trimpath", "-overlay", overlay, "-o", out, "./cmd/wasmnet")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
		return cmd
	})
}
