package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// splitAll cuts path with s and returns the chunks' bytes.
func splitAll(t *testing.T, ctx context.Context, s splitter, path string) ([][]byte, error) {
	t.Helper()
	var out [][]byte
	err := s.split(ctx, path, func(c *chunk) error {
		b, err := c.bytes()
		out = append(out, b)
		return err
	})
	return out, err
}

// TestSplitLongWordIsLinear cuts a 32 MiB word: the old cut looked at the
// word again after every read (16 MB took 9.7 s; 32 MiB would take about
// 40 s), the linear one takes well under a second. The bound only catches
// the quadratic cut on a loaded machine.
func TestSplitLongWordIsLinear(t *testing.T) {
	p := filepath.Join(t.TempDir(), "word")
	text := append(bytes.Repeat([]byte("x"), 32<<20), " tail"...)
	if err := os.WriteFile(p, text, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	chunks, err := splitAll(t, context.Background(), splitter{size: 64 << 10, max: chunkLimit(0)}, p)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Join(chunks, nil); !bytes.Equal(got, append(text, '\n')) {
		t.Fatalf("%d chunks of %d bytes in all, want the text and a newline", len(chunks), len(got))
	}
	t.Logf("a 32 MiB word took %v", took)
	if took > 15*time.Second {
		t.Fatalf("a 32 MiB word took %v: the cut is not linear", took)
	}
}

// TestSplitTooLong: a word longer than the largest message fails with an
// error that names the limit, instead of a chunk that cannot be sent.
func TestSplitTooLong(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"long":    "ok " + strings.Repeat("y", 1001) + " more",
		"lastnl":  strings.Repeat("z", 1000), // the added newline makes 1001
		"noblank": strings.Repeat("w", 5000),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		_, err := splitAll(t, context.Background(), splitter{size: 64, max: 1000}, p)
		if err == nil || !strings.Contains(err.Error(), "longer than 1000 B") || !strings.Contains(err.Error(), "message limit") {
			t.Errorf("%s: %v; want an error naming the limit", name, err)
		}
	}
	p := filepath.Join(dir, "fits")
	os.WriteFile(p, []byte(strings.Repeat("v", 999)), 0o644)
	if chunks, err := splitAll(t, context.Background(), splitter{size: 64, max: 1000}, p); err != nil || len(chunks) != 1 {
		t.Errorf("a word of 999 bytes and its newline: %d chunks, %v", len(chunks), err)
	}
}

// TestSplitCancel: cutting a stream without white space stops when its
// context ends, long before the limit.
func TestSplitCancel(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		block := bytes.Repeat([]byte("x"), 64<<10)
		for range 10_000 { // at most 640 MiB, one block every 5 ms
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, err := w.Write(block); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := splitAll(t, ctx, splitter{size: 64 << 10, max: 1 << 30}, p)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the context's end", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("split did not stop when its context ended")
	}
}

// TestChunkReadAgain: a sent chunk of a regular file lets its bytes go and
// reads them again, with its newline, when it must be dealt again.
func TestChunkReadAgain(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("one two three four"), 0o644)
	var chunks []*chunk
	splitter{size: 8, max: 100}.split(context.Background(), p, func(c *chunk) error {
		chunks = append(chunks, c)
		return nil
	})
	var before, after []string
	for _, c := range chunks {
		b, _ := c.bytes()
		before = append(before, string(b))
		c.release()
		b, err := c.bytes()
		if err != nil {
			t.Fatal(err)
		}
		after = append(after, string(b))
	}
	if strings.Join(before, "|") != "one two |three |four\n" || strings.Join(after, "|") != strings.Join(before, "|") {
		t.Fatalf("chunks %q, read again %q", before, after)
	}
}

// TestRunBadInput runs the main job on input a new user might give it.
func TestRunBadInput(t *testing.T) {
	t.Run("dev-zero", func(t *testing.T) {
		// No white space ever: the run ends with an error naming the limit
		// (it ran until SIGKILL before).
		_, stderr, code := wasmnet(t, "run", "-g", "popen", "--input", "/dev/zero", "--merge", testwasm.Go(t, "wordcount"))
		if code != 1 || !strings.Contains(stderr, "longer than 64.0 MiB") {
			t.Fatalf("exit status %d\n%s", code, stderr)
		}
	})
	t.Run("guests-fail", func(t *testing.T) {
		// Every guest ends with an error before the input is all dealt:
		// the run reports their errors instead of waiting for takers.
		p := filepath.Join(t.TempDir(), "text")
		os.WriteFile(p, bytes.Repeat([]byte("word "), 200_000), 0o644)
		_, stderr, code := wasmnet(t, "run", "-g", "2*popen", "--input", p, "--chunk-size", "4KiB", testwasm.Go(t, "panic"))
		if code != 1 || !strings.Contains(stderr, "gw0: remote error") || !strings.Contains(stderr, "gw1: remote error") {
			t.Fatalf("exit status %d\n%s", code, stderr)
		}
	})
	t.Run("too-many-gateways", func(t *testing.T) {
		_, stderr, code := wasmnet(t, "run", "-g", "100000*popen", testwasm.Go(t, "wordcount"))
		if code != exitUsage || !strings.Contains(stderr, "1024") || !strings.Contains(stderr, "--max-gateways") {
			t.Fatalf("exit status %d\n%s", code, stderr)
		}
	})
}
