package testwasm

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Wat assembles a module in the WebAssembly text format with wabt's
// wat2wasm, failing the test with wat2wasm's message if it cannot.
func Wat(t testing.TB, src string) []byte {
	t.Helper()
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatal("wat2wasm not found: install Debian's wabt package")
	}
	path := filepath.Join(t.TempDir(), "m.wat")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(wat2wasm, "--output=-", path).CombinedOutput()
	if err != nil {
		t.Fatalf("wat2wasm: %v: %s", err, out)
	}
	return out
}
