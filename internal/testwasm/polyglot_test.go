package testwasm

import (
	"bytes"
	"os"
	"testing"
)

// TestPolyglotBuilds builds every C and Rust example and checks it is a
// WebAssembly module; a second call is served from the cache.
func TestPolyglotBuilds(t *testing.T) {
	for _, name := range []string{"echo", "wordcount", "primes", "conform"} {
		for lang, build := range map[string]func(testing.TB, string) string{"c": C, "rust": Rust} {
			p := build(t, name)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("\x00asm\x01\x00\x00\x00")) {
				t.Errorf("%s %s: %s is not a wasm module", lang, name, p)
			}
			before := builds.Load()
			if again := build(t, name); again != p || builds.Load() != before {
				t.Errorf("%s %s: second build not cached (%s, %s)", lang, name, p, again)
			}
		}
	}
}
