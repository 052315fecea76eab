package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/wasmnet/wasmnet/internal/wordcount"
)

// parseSize parses a byte count: 65536, 64KiB, 4MiB, 1GiB, 64kB, 4MB.
func parseSize(s string) (int, error) {
	units := []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"kB", 1000}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	num, mult := s, 1
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes such as 65536, 64KiB or 4MiB", s)
	}
	return n * mult, nil
}

// inputFiles lists the files named by --input: a file as given, a directory
// as its regular files, recursively, in lexical order.
func inputFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("--input: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		// WalkDir visits entries in lexical order.
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("--input: %w", err)
		}
	}
	return files, nil
}

// A chunk is one piece of an input file: n bytes at offset off, plus a
// newline when nl is set (the last chunk of a file that does not end with
// white space, so that words of two files never join).
type chunk struct {
	file  string
	off   int64
	n     int
	nl    bool
	again bool // the file can be read again at off (a regular file)
	lost  int  // how many gateways were lost while holding it; the job's alone

	// mu guards data: the sender of a lost gateway may still hold the
	// chunk when another is handed it.
	mu   sync.Mutex
	data []byte // the bytes, while they are held
}

// bytes returns the chunk's bytes, reading them again from its file when
// they were let go.
func (c *chunk) bytes() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.data != nil {
		return c.data, nil
	}
	f, err := os.Open(c.file)
	if err != nil {
		return nil, fmt.Errorf("--input: reading again: %w", err)
	}
	defer f.Close()
	b := make([]byte, c.n, c.n+1)
	if _, err := f.ReadAt(b, c.off); err != nil {
		return nil, fmt.Errorf("--input: reading %s again at byte %d: %w", c.file, c.off, err)
	}
	if c.nl {
		b = append(b, '\n')
	}
	return b, nil
}

// release lets the bytes of a sent chunk go when they can be read again.
func (c *chunk) release() {
	if c.again {
		c.mu.Lock()
		c.data = nil
		c.mu.Unlock()
	}
}

// size is the chunk's length as sent.
func (c *chunk) size() int {
	if c.nl {
		return c.n + 1
	}
	return c.n
}

// A splitter cuts files into chunks of at most size bytes that end just
// after white space, so that no word is split and each chunk can be counted
// on its own. A word longer than size makes a longer chunk, up to max bytes:
// beyond that a chunk could not be sent as one message, and splitting ends
// with an error naming the limit.
//
// The cost is linear in the input: the bytes of a long word are looked at
// once however many reads it takes to find its end.
type splitter struct {
	size int
	max  int
}

// split cuts the file at path and calls emit with each chunk, which emit
// owns. It stops when ctx ends.
func (s splitter) split(ctx context.Context, path string, emit func(*chunk) error) error {
	f, err := openInput(ctx, path)
	if err != nil {
		return fmt.Errorf("--input: %w", err)
	}
	defer f.Close()
	// A read from a pipe or FIFO that gets no data ends when ctx does: the
	// runtime's poller makes Close wake it.
	defer context.AfterFunc(ctx, func() { f.Close() })()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("--input: %w", err)
	}
	again := st.Mode().IsRegular()
	var (
		buf     []byte // unconsumed bytes, from file offset base
		base    int64
		scanned int // buf[:scanned] holds no white space that ends a chunk
	)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		want := s.size
		if len(buf) >= s.size {
			want = len(buf) + s.size // a word longer than a chunk: read on
		}
		want = min(want, s.max+1)
		buf = growTo(buf, want, s.max+1)
		n, err := io.ReadFull(f, buf[len(buf):want])
		buf = buf[:len(buf)+n]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return s.last(path, base, buf, again, emit)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("--input: %w", err)
		}
		cut := scanned + wordcount.Complete(buf[scanned:])
		if cut == scanned {
			if len(buf) > s.max {
				return s.tooLong(path, base)
			}
			// A white-space rune may straddle the end of buf.
			scanned = max(0, len(buf)-utf8.UTFMax)
			continue
		}
		if err := emit(s.chunk(path, base, buf[:cut], false, again)); err != nil {
			return err
		}
		base += int64(cut)
		buf = append(buf[:0], buf[cut:]...)
		scanned = max(0, len(buf)-utf8.UTFMax)
	}
}

// last emits what is left at the end of a file.
func (s splitter) last(path string, base int64, buf []byte, again bool, emit func(*chunk) error) error {
	if len(buf) == 0 {
		return nil
	}
	r, _ := utf8.DecodeLastRune(buf)
	nl := !unicode.IsSpace(r)
	if len(buf) > s.max || nl && len(buf)+1 > s.max {
		return s.tooLong(path, base)
	}
	return emit(s.chunk(path, base, buf, nl, again))
}

func (s splitter) chunk(path string, off int64, b []byte, nl, again bool) *chunk {
	data := make([]byte, len(b), len(b)+1)
	copy(data, b)
	if nl {
		data = append(data, '\n')
	}
	return &chunk{file: path, off: off, n: len(b), nl: nl, data: data, again: again}
}

func (s splitter) tooLong(path string, off int64) error {
	return fmt.Errorf("--input %s: the word at byte %d is longer than %s, the largest chunk a message can carry (the gateways' message limit)",
		path, off, formatBytes(int64(s.max)))
}

// growTo returns b with room for n bytes, at least doubling its capacity
// (so that reading a long word costs linear time) but not beyond limit.
func growTo(b []byte, n, limit int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(n, min(2*cap(b), limit)))
	copy(nb, b)
	return nb[:len(b)]
}

// splitFile cuts the file at path as s.split does, with no bound but the
// default message limit, and gives emit each chunk's bytes.
func splitFile(path string, size int, emit func([]byte) error) error {
	s := splitter{size: size, max: chunkLimit(0)}
	return s.split(context.Background(), path, func(c *chunk) error { return emit(c.data) })
}

// chunkLimit is the largest chunk that fits a message of limit bytes (0:
// the default limit) once encoded as msgpack bin (a 5-byte header).
func chunkLimit(limit int64) int {
	if limit <= 0 {
		limit = defaultMessageLimit
	}
	return int(limit) - 16
}

// defaultMessageLimit is the agents' default largest message.
const defaultMessageLimit = 64 << 20
