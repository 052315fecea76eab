package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.starlark.net/starlark"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/starlarkprog"
	"github.com/wasmnet/wasmnet/internal/wordcount"
)

// The word-count figures' input lives in a file, as a user's input does,
// and is read a chunk at a time as it is sent; what only the bench needs
// (the reference counts, the native figures beside the guests') is made by
// a child process of this binary. So client-rss, the bench's own peak
// over the whole run, is what a client costs, not what the harness holds:
// with the 16 MiB corpus, its counts and Starlark run in-process, the
// bench peaked at 80-95 MiB (issue 21).

// corpusFile is the word count's input on disk and its reference counts.
type corpusFile struct {
	dir        string
	path       string
	counts     map[string]int64 // of the whole file
	starCounts map[string]int64 // of its first starBytes
}

// wordcountCorpus writes the corpus on first use and returns it with its
// reference counts.
func (b *bench) wordcountCorpus() (*corpusFile, error) {
	if b.corpus != nil {
		return b.corpus, nil
	}
	dir, err := os.MkdirTemp("", "wasmnet-bench-corpus-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	c := &corpusFile{dir: dir, path: filepath.Join(dir, "corpus.txt")}
	if err := writeCorpusFile(c.path, wordcountBytes, 1); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: %w", err)
	}
	var res nativeResult
	if err := b.native("counts", c.path, &res); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.counts, c.starCounts = res.Counts, res.StarCounts
	b.corpus = c
	return c, nil
}

func (b *bench) closeCorpus() {
	if b.corpus != nil {
		os.RemoveAll(b.corpus.dir)
		b.corpus = nil
	}
}

// sendFile sends the first limit bytes of the file at path (all of it for
// limit < 0) on ch, in items of chunk bytes read into one buffer: Send
// copies or writes a byte string before it returns.
func sendFile(ch *channel.Channel, path string, limit int64, chunk int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if limit >= 0 {
		r = io.LimitReader(f, limit)
	}
	buf := make([]byte, chunk)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if err := ch.Send(buf[:n]); err != nil {
				return err
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// nativeResult is what a `bench native` child prints.
type nativeResult struct {
	Millis     float64          `json:"ms,omitempty"`
	Counts     map[string]int64 `json:"counts,omitempty"`
	StarCounts map[string]int64 `json:"star_counts,omitempty"`
}

// native runs `wasmnet bench native KIND FILE` and decodes what it prints
// into res.
func (b *bench) native(kind, path string, res *nativeResult) error {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.self, "bench", "native", kind, path, b.opts.examples)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bench: native %s: %w: %s", kind, err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(stdout.Bytes(), res); err != nil {
		return fmt.Errorf("bench: native %s: %w", kind, err)
	}
	return nil
}

func newBenchNativeCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "native counts|wordcount|wordcount-star FILE EXAMPLES",
		Short:  "The native figures and reference counts of bench's word count",
		Hidden: true,
		Args:   cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := runNative(args[0], args[1], args[2])
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
		},
	}
}

// runNative is the child process of native: counts gives the reference
// counts of the corpus and of its first starBytes; wordcount times what
// the Go guest runs, natively, on the whole corpus; wordcount-star times
// the Starlark word count of the examples under go.starlark.net on its
// first starBytes. Each checks what it timed against the reference.
func runNative(kind, path, examples string) (*nativeResult, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	star := text[:min(starBytes, len(text))]
	switch kind {
	case "counts":
		res := &nativeResult{Counts: map[string]int64{}, StarCounts: map[string]int64{}}
		wordcount.Count(string(text), res.Counts)
		wordcount.Count(string(star), res.StarCounts)
		return res, nil
	case "wordcount":
		want := map[string]int64{}
		wordcount.Count(string(text), want)
		start := time.Now()
		// The chunks joined at word boundaries as
		// wasm-examples/wordcount/main.go joins them.
		counts := wordcount.CountChunks(text, wordcountChunk)
		elapsed := time.Since(start)
		if !maps.Equal(counts, want) {
			return nil, fmt.Errorf("native word count: %d words, want %d", len(counts), len(want))
		}
		return &nativeResult{Millis: millis(elapsed)}, nil
	case "wordcount-star":
		want := map[string]int64{}
		wordcount.Count(string(star), want)
		ms, err := nativeStarlark(filepath.Join(examples, wordcountStar), star, want)
		return &nativeResult{Millis: ms}, err
	}
	return nil, fmt.Errorf("bench native: unknown kind %q", kind)
}

// nativeStarlark runs the Starlark word count at path with go.starlark.net,
// fed text in the guests' chunks by a channel stand-in, and checks its
// answer.
func nativeStarlark(path string, text []byte, want map[string]int64) (float64, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return 0, err
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
		return 0, fmt.Errorf("native starlark: %w", err)
	}
	elapsed := time.Since(start)
	got, ok := ch.sent.(*starlark.Dict)
	if !ok || got.Len() != len(want) {
		return 0, fmt.Errorf("native starlark: sent a %s, want a dict of %d words", typeName(ch.sent), len(want))
	}
	for w, n := range want {
		if v, _, _ := got.Get(starlark.String(w)); v == nil || v.String() != strconv.FormatInt(n, 10) {
			return 0, fmt.Errorf("native starlark: counted %v of %q, want %d", v, w, n)
		}
	}
	return millis(elapsed), nil
}
