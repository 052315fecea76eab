package main

import (
	"fmt"

	"go.starlark.net/starlark"
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
	c, err := b.wordcountCorpus()
	if err != nil {
		return nil, err
	}
	gw, err := b.liveGateway()
	if err != nil {
		return nil, err
	}
	ms, err := b.wordcountIn(gw, name, c.path, -1, c.counts, wordcountChunk)
	return []float64{ms}, err
}

// guestWordcountStar counts the Starlark figures' text (the corpus's first
// starBytes) in the Starlark word count on the live agent.
func (b *bench) guestWordcountStar() ([]float64, error) {
	c, err := b.wordcountCorpus()
	if err != nil {
		return nil, err
	}
	gw, err := b.liveGateway()
	if err != nil {
		return nil, err
	}
	ms, err := b.wordcountIn(gw, wordcountStarModule, c.path, starBytes, c.starCounts, wordcountChunk)
	return []float64{ms}, err
}

// nativeWordcount runs what the Go guest runs, natively, in a child.
func (b *bench) nativeWordcount() ([]float64, error) {
	return b.nativeFigure("wordcount")
}

// nativeWordcountStar runs the Starlark word count with go.starlark.net,
// in a child.
func (b *bench) nativeWordcountStar() ([]float64, error) {
	return b.nativeFigure("wordcount-star")
}

func (b *bench) nativeFigure(kind string) ([]float64, error) {
	c, err := b.wordcountCorpus()
	if err != nil {
		return nil, err
	}
	var res nativeResult
	if err := b.native(kind, c.path, &res); err != nil {
		return nil, err
	}
	return []float64{res.Millis}, nil
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
