package corpus

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/wordcount"
)

func TestGenerateDeterministic(t *testing.T) {
	for _, size := range []int{1, 2, 100, 1 << 16, 1<<16 + 7} {
		var a, b bytes.Buffer
		if err := Generate(&a, size, 42); err != nil {
			t.Fatal(err)
		}
		Generate(&b, size, 42)
		if a.Len() != size || !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("size %d: got %d bytes, equal %v", size, a.Len(), bytes.Equal(a.Bytes(), b.Bytes()))
		}
		if !bytes.HasSuffix(a.Bytes(), []byte("\n")) {
			t.Fatalf("size %d: no final newline", size)
		}
	}
	var c, d bytes.Buffer
	Generate(&c, 4096, 1)
	Generate(&d, 4096, 2)
	if bytes.Equal(c.Bytes(), d.Bytes()) {
		t.Fatal("different seeds gave the same text")
	}
}

func TestGenerateZipf(t *testing.T) {
	var b bytes.Buffer
	Generate(&b, 1<<20, 7)
	counts := map[string]int64{}
	wordcount.Count(b.String(), counts)
	if counts["the"] <= counts["of"] || counts["of"] <= counts["wasm"] {
		t.Fatalf("not Zipf-like: the=%d of=%d wasm=%d", counts["the"], counts["of"], counts["wasm"])
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if len(line) > 80 {
			t.Fatalf("line of %d bytes: %q", len(line), line)
		}
	}
}
