package gateway

import (
	"bytes"
	"math"
	"testing"

	"github.com/wasmnet/wasmnet/internal/corpus"
	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wordcount"
)

// The Go SDK sets its collector from the execution's memory limit, in a
// command and in a reactor, for each execution; a client's GOGC wins.
func TestGoGuestGCFollowsMemoryLimit(t *testing.T) {
	g := popen(t, "popen")
	command := module(t, "sandbox")
	reactor := loadModule(t, testwasm.GoReactor(t, "sandbox"))
	tests := []struct {
		name        string
		mod         Module
		opts        []ExecOption
		wantLimit   int64
		wantPercent int64
	}{
		{"command 64 MiB", command, []ExecOption{WithMemoryLimit(64 << 20)}, 48 << 20, 200},
		{"reactor 64 MiB", reactor, []ExecOption{WithMemoryLimit(64 << 20)}, 48 << 20, 200},
		// The same reactor again, under another limit: nothing of the
		// first execution's setting is kept.
		{"reactor 256 MiB", reactor, []ExecOption{WithMemoryLimit(256 << 20)}, 192 << 20, 800},
		{"command 16 MiB", command, []ExecOption{WithMemoryLimit(16 << 20)}, 12 << 20, 100},
		{"command GOGC given", command, []ExecOption{WithMemoryLimit(64 << 20), WithEnv("GOGC=200")}, math.MaxInt64, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := g.RemoteExec(testCtx(t), tc.mod, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			gc, _ := receive(t, ch).(map[string]any)["gc"].(map[string]any)
			if gc["memory_limit"] != tc.wantLimit || gc["percent"] != tc.wantPercent {
				t.Errorf("guest's collector: memory limit %v, GOGC %v; want %d, %d",
					gc["memory_limit"], gc["percent"], tc.wantLimit, tc.wantPercent)
			}
		})
	}
}

// With its collector paced by its limit, the Go word count still counts
// more text than its memory limit holds, and counts it right.
func TestGoWordcountWithinMemoryLimit(t *testing.T) {
	var text bytes.Buffer
	if err := corpus.Generate(&text, 48<<20, 3); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	wordcount.Count(text.String(), want)
	g := popen(t, "popen")
	ch, err := g.RemoteExec(testCtx(t), module(t, "wordcount"), WithMemoryLimit(40<<20))
	if err != nil {
		t.Fatal(err)
	}
	for rest := text.Bytes(); len(rest) > 0; {
		n := min(len(rest), 64<<10)
		if err := ch.Send(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := ch.Send(nil); err != nil {
		t.Fatal(err)
	}
	got, _ := receive(t, ch).(map[string]any)
	if len(got) != len(want) {
		t.Fatalf("counted %d words, want %d", len(got), len(want))
	}
	for w, n := range want {
		if got[w] != n {
			t.Fatalf("count of %q: %v, want %d", w, got[w], n)
		}
	}
}
