package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.starlark.net/starlark"

	"github.com/wasmnet/wasmnet/internal/starlarkprog"
	"github.com/wasmnet/wasmnet/internal/wordcount"
)

// Guest compute on the main job: the word count of the same corpus, sent
// in the same 64 KiB chunks, in every guest language beside the same code
// run natively (internal/wordcount for the compiled guests, go.starlark.net
// for the Starlark source, which counts the corpus's first 2 MiB: the
// interpreter is two orders of magnitude slower than compiled code).

const (
	wordcountChunk = 64 << 10
	starBytes      = 2 << 20
)

// wordcountStar is the Starlark word count, in the examples folder.
const wordcountStar = "starlark/wordcount.star"

var goalWordcountGo = &goal{text: "<= 3x native", ratio: true, bound: 3}

func computeProbes() []probe {
	guest := func(key, name, limit string, g *goal, module string) probe {
		return probe{figures: []figure{{key: key, name: name, unit: "ms", limit: limit, goal: g}},
			run: func(b *bench) ([]float64, error) { return b.guestWordcount(module) }}
	}
	return []probe{
		{figures: []figure{{key: "native-wordcount", name: "native Go: word count of 16 MiB in 64 KiB chunks", unit: "ms"}},
			run: (*bench).nativeWordcount},
		guest("wordcount-go", "word count in the Go guest", "native-wordcount", goalWordcountGo, "wordcount"),
		guest("wordcount-go-r", "word count in the Go guest reactor", "native-wordcount", nil, "wordcount-reactor"),
		guest("wordcount-c", "word count in the C guest", "native-wordcount", nil, "wordcount-c"),
		guest("wordcount-rust", "word count in the Rust guest", "native-wordcount", nil, "wordcount-rust"),
		{figures: []figure{{key: "native-wordcount-star", name: "native Starlark (go.starlark.net): word count of 2 MiB", unit: "ms"}},
			run: (*bench).nativeWordcountStar},
		{figures: []figure{{key: "wordcount-star", name: "word count of 2 MiB in Starlark source", unit: "ms", limit: "native-wordcount-star"}},
			run: (*bench).guestWordcountStar},
	}
}

// wordcountStarModule names the Starlark word count for bench.module.
const wordcountStarModule = "wordcount-star"

// guestWordcount counts the corpus in guest name on the live agent.
func (b *bench) guestWordcount(name string) ([]float64, error) {
	want, err := b.wordcountCorpus()
	if err != nil {
		return nil, err
	}
	gw, err := b.liveGateway()
	if err != nil {
		return nil, err
	}
	ms, err := b.wordcountIn(gw, name, b.corpus, want, wordcountChunk)
	return []float64{ms}, err
}

// guestWordcountStar counts the Starlark figures' text in the Starlark
// word count on the live agent.
func (b *bench) guestWordcountStar() ([]float64, error) {
	text, want, err := b.starCorpus()
	if err != nil {
		return nil, err
	}
	gw, err := b.liveGateway()
	if err != nil {
		return nil, err
	}
	ms, err := b.wordcountIn(gw, wordcountStarModule, text, want, wordcountChunk)
	return []float64{ms}, err
}

// starCorpus returns the text of the Starlark figures and its counts.
func (b *bench) starCorpus() ([]byte, map[string]int64, error) {
	if _, err := b.wordcountCorpus(); err != nil {
		return nil, nil, err
	}
	text := b.corpus[:min(starBytes, len(b.corpus))]
	want := map[string]int64{}
	wordcount.Count(string(text), want)
	return text, want, nil
}

// nativeWordcount runs what the Go guest runs, natively: the chunks joined
// at word boundaries as wasm-examples/wordcount/main.go joins them.
func (b *bench) nativeWordcount() ([]float64, error) {
	want, err := b.wordcountCorpus()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	counts := wordcount.CountChunks(b.corpus, wordcountChunk)
	elapsed := time.Since(start)
	if len(counts) != len(want) || counts["the"] != want["the"] {
		return nil, fmt.Errorf("native word count: %d words, want %d", len(counts), len(want))
	}
	return []float64{millis(elapsed)}, nil
}

// nativeWordcountStar runs the Starlark word count with go.starlark.net
// in this process, fed the same chunks by a channel stand-in.
func (b *bench) nativeWordcountStar() ([]float64, error) {
	text, want, err := b.starCorpus()
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filepath.Join(b.opts.examples, wordcountStar))
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	ch := &chunkFeed{}
	for rest := text; len(rest) > 0; {
		n := min(len(rest), wordcountChunk)
		ch.chunks = append(ch.chunks, starlark.Bytes(rest[:n]))
		rest = rest[n:]
	}
	start := time.Now()
	thread := &starlark.Thread{Name: "wordcount"}
	predeclared := starlark.StringDict{"channel": ch}
	if _, err := starlark.ExecFileOptions(starlarkprog.FileOptions(), thread, wordcountStar, src, predeclared); err != nil {
		return nil, fmt.Errorf("native starlark: %w", err)
	}
	elapsed := time.Since(start)
	got, ok := ch.sent.(*starlark.Dict)
	if !ok || got.Len() != len(want) {
		return nil, fmt.Errorf("native starlark: sent a %s, want a dict of %d words", typeName(ch.sent), len(want))
	}
	for w, n := range want {
		if v, _, _ := got.Get(starlark.String(w)); v == nil || v.String() != strconv.FormatInt(n, 10) {
			return nil, fmt.Errorf("native starlark: counted %v of %q, want %d", v, w, n)
		}
	}
	return []float64{millis(elapsed)}, nil
}

func typeName(v starlark.Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Type()
}

// chunkFeed is the channel of the native Starlark run: iterating it yields
// the chunks, send keeps the answer.
type chunkFeed struct {
	chunks []starlark.Value
	sent   starlark.Value
}

var (
	_ starlark.Iterable = (*chunkFeed)(nil)
	_ starlark.HasAttrs = (*chunkFeed)(nil)
)

func (c *chunkFeed) String() string        { return "<channel>" }
func (c *chunkFeed) Type() string          { return "channel" }
func (c *chunkFeed) Freeze()               {}
func (c *chunkFeed) Truth() starlark.Bool  { return starlark.True }
func (c *chunkFeed) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: channel") }
func (c *chunkFeed) AttrNames() []string   { return []string{"send"} }

func (c *chunkFeed) Iterate() starlark.Iterator { return &chunkIter{rest: c.chunks} }

func (c *chunkFeed) Attr(name string) (starlark.Value, error) {
	if name != "send" {
		return nil, nil
	}
	return starlark.NewBuiltin("send", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs("send", args, kwargs, 1, &c.sent); err != nil {
			return nil, err
		}
		return starlark.None, nil
	}), nil
}

type chunkIter struct{ rest []starlark.Value }

func (it *chunkIter) Next(p *starlark.Value) bool {
	if len(it.rest) == 0 {
		return false
	}
	*p, it.rest = it.rest[0], it.rest[1:]
	return true
}

func (it *chunkIter) Done() {}
