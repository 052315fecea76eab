package gateway

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/wasmnet/wasmnet/channel"
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

func (t *outputTagger) write(o channel.Output) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := outputKey{o.Channel, o.Stream}
	data := append(t.partial[k], o.Data...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		t.line(k, data[:i])
		data = data[i+1:]
	}
	if len(data) > 0 {
		t.partial[k] = append([]byte(nil), data...)
	} else {
		delete(t.partial, k)
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
