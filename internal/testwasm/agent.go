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

// Agent returns the path of the wasmnet binary built from the current
// sources for this machine, for tests that start real agent processes.
func Agent(t testing.TB) string {
	t.Helper()
	root := Root(t)
	goTool := requireTool(t, "go", "to build the wasmnet agent")
	h := sha256.New()
	fmt.Fprintf(h, "agent\x00%s\x00%s\x00", goVersion(t, goTool), os.Getenv("GOFLAGS"))
	isGo := func(p string) bool { return strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") }
	if err := hashSources(h, root, []string{"go.mod", "go.sum", "abi", "channel", "host", "gateway", "internal", "cmd"}, isGo); err != nil {
		t.Fatalf("testwasm: hashing the agent's sources: %v", err)
	}
	name := "wasmnet-" + hex.EncodeToString(h.Sum(nil))[:20]
	return buildCachedFile(t, "wasmnet", name, func(out string) *exec.Cmd {
		cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, "./cmd/wasmnet")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		return cmd
	})
}
