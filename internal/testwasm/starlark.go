package testwasm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/starlarkwasm"
)

// starlarkBuildArgs are the go build arguments of the interpreter guest,
// the same as the Makefile's, so that both give the same bytes. It is a
// reactor, so that an agent starts it from an image of the initialised
// interpreter (RATIONALE.md, "Why are modules started from an image?").
var starlarkBuildArgs = []string{"build", "-trimpath", "-buildvcs=false", "-buildmode=c-shared"}

// Starlark returns the path of the Starlark interpreter guest (guest/starlark)
// built from the current sources, as make starlark builds it.
func Starlark(t testing.TB) string {
	t.Helper()
	root := Root(t)
	goTool := requireTool(t, "go", "to build the Starlark interpreter guest")
	h := sha256.New()
	fmt.Fprintf(h, "starlark\x00%s\x00%s\x00%q\x00", goVersion(t, goTool), os.Getenv("GOFLAGS"), starlarkBuildArgs)
	isGo := func(p string) bool { return strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") }
	if err := hashSources(h, root, []string{"go.mod", "go.sum", "abi", "guest"}, isGo); err != nil {
		t.Fatalf("testwasm: hashing the sources of the Starlark interpreter: %v", err)
	}
	return buildCached(t, "starlark", h.Sum(nil), func(out string) *exec.Cmd {
		cmd := exec.Command(goTool, append(starlarkBuildArgs, "-o", out, "./guest/starlark")...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		return cmd
	})
}

// starlarkOverlay writes a go build -overlay file that puts the interpreter
// at starlarkwasm.Path, so that a wasmnet built with it embeds the
// interpreter without writing into the source tree, and returns its path
// and the interpreter's path (part of the build's cache key).
func starlarkOverlay(t testing.TB, root string) (overlay, interp string) {
	t.Helper()
	interp = Starlark(t)
	b, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(root, filepath.FromSlash(starlarkwasm.Path)): interp},
	})
	if err != nil {
		t.Fatalf("testwasm: %v", err)
	}
	sum := sha256.Sum256(b)
	overlay = filepath.Join(cacheDir(t), "overlay-"+hex.EncodeToString(sum[:])[:20]+".json")
	if err := os.WriteFile(overlay, b, 0o644); err != nil {
		t.Fatalf("testwasm: %v", err)
	}
	return overlay, interp
}
