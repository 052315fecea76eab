package gateway

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/wasmnet/wasmnet/internal/wire"
)

// outputTagger writes guests' stdout and stderr to one writer, a line at a
// time, each tagged with the gateway and channel it came from, so that the
// output of many guests interleaves only between whole lines.
type outputTagger struct {
	gateway string
	w       io.Writer

	mu      sync.Mutex
	partial map[outputKey][]byte
}

type outputKey struct {
	channel uint32
	stream  uint8
}

func newOutputTagger(gateway string, w io.Writer) *outputTagger {
	return &outputTagger{gateway: gateway, w: w, partial: map[outputKey][]byte{}}
}

// maxPartialLine is the most of an unterminated line kept per stream: a
// guest writing without newlines gets its output flushed in pieces of this
// size instead of held without bound.
const maxPartialLine = 64 << 10

// write takes one piece of output. Each byte is copied at most twice (into
// the partial line, out to w), so time is linear in the output.
func (t *outputTagger) write(o wire.Output) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := outputKey{o.Channel, o.Stream}
	data := o.Data
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if p := t.partial[k]; len(p) > 0 {
			t.line(k, append(p, data[:i]...))
			delete(t.partial, k)
		} else {
			t.line(k, data[:i])
		}
		data = data[i+1:]
	}
	buf := t.partial[k]
	for len(data) > 0 {
		if len(buf) == 0 && len(data) >= maxPartialLine {
			t.line(k, data[:maxPartialLine])
			data = data[maxPartialLine:]
			continue
		}
		if buf == nil {
			buf = make([]byte, 0, maxPartialLine)
		}
		n := min(maxPartialLine-len(buf), len(data))
		buf, data = append(buf, data[:n]...), data[n:]
		if len(buf) == maxPartialLine {
			t.line(k, buf)
			buf = buf[:0]
		}
	}
	if len(buf) == 0 {
		delete(t.partial, k)
	} else {
		t.partial[k] = buf
	}
}

func (t *outputTagger) line(k outputKey, line []byte) {
	stream := "out"
	if k.stream == 2 {
		stream = "err"
	}
	fmt.Fprintf(t.w, "[%s ch%d %s] %s\n", t.gateway, k.channel, stream, line)
}

// flush writes the unterminated last lines.
func (t *outputTagger) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, data := range t.partial {
		t.line(k, data)
	}
	clear(t.partial)
}
