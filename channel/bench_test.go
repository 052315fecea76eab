package channel

import (
	"context"
	"testing"
)

// Benchmarks of the codec and the multiplexer on in-memory links, so that
// a change can be compared with benchstat:
//
//	go test -run '^$' -bench . -count 10 ./channel > old.txt
//	(change)
//	go test -run '^$' -bench . -count 10 ./channel > new.txt
//	benchstat old.txt new.txt
//
// wasmnet bench (BENCHMARKS.md) measures the same paths across processes.

var benchSmall any = int64(42)

var benchNested any = map[string]any{
	"id":    int64(12345),
	"name":  "worker-7",
	"ok":    true,
	"ratio": 0.25,
	"tags":  []any{"a", "bb", "ccc"},
	"range": []any{int64(0), int64(1_000_000)},
	"blob":  make([]byte, 64),
	"inner": map[string]any{"depth": int64(2), "list": []any{int64(-1), nil, "x"}},
}

func benchEncode(b *testing.B, v any) {
	b.ReportAllocs()
	buf, err := appendValue(nil, v, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if buf, err = appendValue(buf[:0], v, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, v any) {
	b.ReportAllocs()
	buf, err := Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeSmall(b *testing.B)  { benchEncode(b, benchSmall) }
func BenchmarkEncodeNested(b *testing.B) { benchEncode(b, benchNested) }
func BenchmarkDecodeSmall(b *testing.B)  { benchDecode(b, benchSmall) }
func BenchmarkDecodeNested(b *testing.B) { benchDecode(b, benchNested) }

// benchPair is a client and an agent channel joined by kernel pipes
// (os.Pipe), the link of a popen agent.
func benchPair(b *testing.B) (*Channel, *Channel) {
	cm, am := muxPair(b, osPipePair, nil, nil)
	return channelPair(b, cm, am)
}

// echo sends back every item that arrives on ch until it closes.
func echo(ch *Channel) {
	ctx := context.Background()
	for {
		p, err := ch.ReceiveRaw(ctx)
		if err != nil {
			return
		}
		if ch.SendRaw(ctx, p) != nil {
			return
		}
	}
}

// BenchmarkRoundTrip is one small integer to an echoing peer and back.
func BenchmarkRoundTrip(b *testing.B) {
	c, a := benchPair(b)
	go echo(a)
	ctx := testCtx(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Send(benchSmall); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Receive(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOneWaySmall sends small integers one way as fast as flow
// control allows; the receiver decodes each.
func BenchmarkOneWaySmall(b *testing.B) {
	c, a := benchPair(b)
	ctx := testCtx(b)
	done := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			if _, err := a.Receive(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range b.N {
		if err := c.Send(benchSmall); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBulk sends 1 MiB byte strings one way.
func BenchmarkBulk(b *testing.B) {
	c, a := benchPair(b)
	ctx := testCtx(b)
	chunk := make([]byte, 1<<20)
	done := make(chan error, 1)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			if _, err := a.ReceiveRaw(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range b.N {
		if err := c.Send(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
