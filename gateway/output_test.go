package gateway

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/wire"
)

// TestOutputWithoutNewlines feeds 8 MiB without a newline, in pieces: it
// comes out in tagged lines of at most 64 KiB, in order, and the tagger
// keeps less than a line of it.
func TestOutputWithoutNewlines(t *testing.T) {
	var out bytes.Buffer
	tg := newOutputTagger("gw", &out)
	var want bytes.Buffer
	piece := make([]byte, 5000)
	for i := range 8 << 20 / len(piece) {
		for j := range piece {
			piece[j] = 'a' + byte((i+j)%26)
		}
		want.Write(piece)
		tg.write(wire.Output{Channel: 1, Stream: 1, Data: piece})
		if held := len(tg.partial[outputKey{1, 1}]); held >= maxPartialLine {
			t.Fatalf("after %d pieces the tagger holds %d bytes", i+1, held)
		}
	}
	tg.write(wire.Output{Channel: 1, Stream: 1, Data: []byte("end\n")})
	want.WriteString("end")
	var got strings.Builder
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, l := range lines {
		text, ok := strings.CutPrefix(l, "[gw ch1 out] ")
		if !ok || len(text) > maxPartialLine {
			t.Fatalf("line of %d bytes: %.60q", len(l), l)
		}
		got.WriteString(text)
	}
	if got.String() != want.String() {
		t.Fatalf("output changed on the way: %d bytes in, %d out", want.Len(), got.Len())
	}
	if len(lines) < (8<<20)/maxPartialLine {
		t.Fatalf("%d lines, want the output flushed every 64 KiB", len(lines))
	}
}

// TestOutputLinesAcrossPieces checks that lines split across notices, and
// notices of many lines, come out whole and tagged by their stream.
func TestOutputLinesAcrossPieces(t *testing.T) {
	var out bytes.Buffer
	tg := newOutputTagger("gw", &out)
	for _, s := range []string{"he", "llo\nwor", "ld\n\nx"} {
		tg.write(wire.Output{Channel: 3, Stream: 2, Data: []byte(s)})
	}
	tg.write(wire.Output{Channel: 3, Stream: 1, Data: []byte("other\n")})
	tg.flush()
	want := "[gw ch3 err] hello\n[gw ch3 err] world\n[gw ch3 err] \n[gw ch3 out] other\n[gw ch3 err] x\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func BenchmarkOutputWithoutNewlines(b *testing.B) {
	piece := bytes.Repeat([]byte{'x'}, 4096)
	tg := newOutputTagger("gw", discard{})
	b.SetBytes(int64(len(piece)))
	for b.Loop() {
		tg.write(wire.Output{Channel: 1, Stream: 1, Data: piece})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
