package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/wasmnet/wasmnet/channel"
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

// splitFile cuts the file at path into chunks of at most size bytes that
// end just after white space, so that no word is split and each chunk can be
// counted on its own. A word longer than size makes a longer chunk. The last
// chunk of a file gets a newline if the file does not end with white space,
// so that words of two files never join. emit owns each chunk it is given.
func splitFile(path string, size int, emit func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--input: %w", err)
	}
	defer f.Close()
	var buf []byte
	limit := size
	for {
		if len(buf) < limit {
			buf = growTo(buf, limit)
			n, err := io.ReadFull(f, buf[len(buf):limit])
			buf = buf[:len(buf)+n]
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				if len(buf) == 0 {
					return nil
				}
				if r, _ := utf8.DecodeLastRune(buf); !unicode.IsSpace(r) {
					buf = append(buf, '\n')
				}
				return emit(buf)
			}
			if err != nil {
				return fmt.Errorf("--input: %w", err)
			}
		}
		n := wordcount.Complete(buf)
		if n == 0 {
			limit += size // one word longer than a chunk: read on
			continue
		}
		chunk := make([]byte, n)
		copy(chunk, buf)
		if err := emit(chunk); err != nil {
			return err
		}
		buf = append(buf[:0], buf[n:]...)
		limit = size
	}
}

func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb
}

// countChunks is how many chunks splitFile makes of files, for the
// progress line's total.
func countChunks(files []string, size int) (int64, error) {
	var n int64
	for _, f := range files {
		if err := splitFile(f, size, func([]byte) error { n++; return nil }); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// errNoGuest ends the reading of input once no guest takes chunks any more.
var errNoGuest = errors.New("no guest is taking input")

// dealInput sends the chunks of files to the guests, then half-closes each
// guest's channel as the end of its input.
//
// Each chunk goes to the guest with the fewest bytes sent so far among
// those that can take it now. A guest can take a chunk when its sender holds
// none waiting: a sender blocks while its guest's channel window is full,
// so a guest that reads slowly gets no more chunks until it catches up, and
// the others take them. So chunks are balanced by bytes while every guest
// keeps up, and flow control moves work away from a guest that does not.
// (The wordcount guest answers only at the end of its input, so there is no
// answer per chunk to deal by.) A guest that fails takes no more chunks;
// the others go on. sent is called after each chunk is sent, from the
// senders' goroutines.
func dealInput(ctx context.Context, files []string, size int, chans []*channel.Channel, sent func(i, n int)) error {
	d := &dealer{freed: make(chan struct{}, 1), sent: make([]int64, len(chans))}
	var senders sync.WaitGroup
	for i, ch := range chans {
		s := &chunkSender{ch: ch, in: make(chan []byte, 1)}
		d.senders = append(d.senders, s)
		senders.Go(func() { s.run(ctx, d.freed, func(n int) { sent(i, n) }) })
	}
	var err error
	for _, f := range files {
		if err = splitFile(f, size, func(c []byte) error { return d.deal(ctx, c) }); err != nil {
			break
		}
	}
	for _, s := range d.senders {
		close(s.in)
	}
	senders.Wait()
	if errors.Is(err, errNoGuest) {
		return nil // the guests' errors say why
	}
	return err
}

// dealer hands chunks to the senders; it runs on one goroutine.
type dealer struct {
	senders []*chunkSender
	sent    []int64       // bytes handed to each sender
	freed   chan struct{} // a token when a sender took its chunk or stopped
}

// deal hands c to the sender with the fewest bytes among those with room,
// waiting until one has room.
func (d *dealer) deal(ctx context.Context, c []byte) error {
	for {
		best, alive := -1, false
		for i, s := range d.senders {
			if s.dead.Load() {
				continue
			}
			alive = true
			if len(s.in) == 0 && (best < 0 || d.sent[i] < d.sent[best]) {
				best = i
			}
		}
		if !alive {
			return errNoGuest
		}
		if best >= 0 {
			d.senders[best].in <- c // only deal sends on in, so there is room
			d.sent[best] += int64(len(c))
			return nil
		}
		select {
		case <-d.freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// chunkSender feeds one guest.
type chunkSender struct {
	ch   *channel.Channel
	in   chan []byte
	dead atomic.Bool // a send failed: the guest has ended
}

// run sends the chunks it is handed, then half-closes the channel: the
// guest's receive reports the end of its input and it can still answer.
// It stops at the first failed send: the guest has ended, and says why on
// its channel.
func (s *chunkSender) run(ctx context.Context, freed chan struct{}, sent func(n int)) {
	for c := range s.in {
		notify(freed)
		if err := s.ch.SendContext(ctx, c); err != nil {
			s.dead.Store(true)
			notify(freed)
			for range s.in { // let the dealer close in
			}
			return
		}
		sent(len(c))
	}
	s.ch.CloseSend()
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
