package wordcount

import (
	"maps"
	"testing"
)

func TestCount(t *testing.T) {
	tests := []struct {
		text string
		want map[string]int64
	}{
		{"", map[string]int64{}},
		{"  \t\n ", map[string]int64{}},
		{"Hello, hello world!", map[string]int64{"hello": 2, "world": 1}},
		{"«Ça» va? ÇA\u00a0va.", map[string]int64{"ça": 2, "va": 2}},
		{"-- ... !!", map[string]int64{}},
		{"don't (x) e-mail", map[string]int64{"don't": 1, "x": 1, "e-mail": 1}},
		{"$5 +1 a", map[string]int64{"$5": 1, "+1": 1, "a": 1}}, // $ and + are symbols, not punctuation
		{"A\xffB, a\xffb", map[string]int64{"a\ufffdb": 2}},     // wasm-examples/README.md says so
	}
	for _, tt := range tests {
		got := map[string]int64{}
		Count(tt.text, got)
		if !maps.Equal(got, tt.want) {
			t.Errorf("Count(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestCompleteStreaming(t *testing.T) {
	text := "The quick, brown fox\u2003jumps — over the lazy dog. Ünïcödé\u00a0words!"
	want := map[string]int64{}
	Count(text, want)
	for size := 1; size <= len(text); size++ {
		got := map[string]int64{}
		var pending []byte
		for i := 0; i < len(text); i += size {
			pending = append(pending, text[i:min(i+size, len(text))]...)
			n := Complete(pending)
			Count(string(pending[:n]), got)
			pending = append(pending[:0], pending[n:]...)
		}
		Count(string(pending), got)
		if !maps.Equal(got, want) {
			t.Fatalf("chunks of %d: %v, want %v", size, got, want)
		}
	}
}

// CountChunks gives Count's answer whatever the chunk size, chunks that
// cut words and UTF-8 sequences included.
func TestCountChunks(t *testing.T) {
	text := "Ünïcode «words», cut — anywhere: the THE the.\n\tend"
	want := map[string]int64{}
	Count(text, want)
	for chunk := 1; chunk <= len(text); chunk++ {
		if got := CountChunks([]byte(text), chunk); !maps.Equal(got, want) {
			t.Fatalf("chunks of %d: %v, want %v", chunk, got, want)
		}
	}
}
