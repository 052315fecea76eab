package main

import (
	"math"
	"testing"
	"time"
)

// TestProgressPhase: the line says what the run waits on, in order.
func TestProgressPhase(t *testing.T) {
	s := progressState{asked: 64, hasInput: true, total: 256 << 20}
	steps := []struct {
		step func()
		want string
	}{
		{func() {}, "starting 0/64 gateways"},
		{func() { s.started = 12 }, "starting 12/64 gateways"},
		{func() { s.started = 64; s.ready = 3 }, "uploading and compiling the module: 3/64 ready"},
		{func() { s.ready = 64 }, "dealing: 0 chunks"},
		{func() { s.chunks = 7 }, "dealing: 7 chunks"},
	}
	for _, st := range steps {
		st.step()
		if got := s.phase(); got != st.want {
			t.Errorf("%+v: %q, want %q", s, got, st.want)
		}
	}
	if got := (progressState{asked: 2, started: 2, ready: 2}).phase(); got != "running on 2 gateways" {
		t.Errorf("without input: %q", got)
	}
}

// TestRateIsCurrent: two minutes of starting gateways, then 10 MiB dealt
// in 2 s, is a rate of 5 MiB/s, not the 0.08 MiB/s of an average since the
// start; and the time left follows that rate.
func TestRateIsCurrent(t *testing.T) {
	var w rateWindow
	start := time.Unix(1e9, 0)
	for s := 0; s <= 120; s++ {
		w.add(start.Add(time.Duration(s)*time.Second), 0)
	}
	now := start.Add(120 * time.Second)
	for ms := 0; ms <= 2000; ms += 100 {
		w.add(now.Add(time.Duration(ms)*time.Millisecond), int64(ms)*(10<<20)/2000)
	}
	rate := w.rate() / (1 << 20)
	// The window still holds a few seconds of the idle start, so the rate
	// is below 5 MiB/s until it has passed; never near the average.
	if rate < 0.8 || rate > 5.01 {
		t.Fatalf("rate %.2f MiB/s, want the last seconds' (at most 5)", rate)
	}
	end := now.Add(2 * time.Second)
	for ms := 100; ms <= 10_000; ms += 100 {
		w.add(end.Add(time.Duration(ms)*time.Millisecond), 10<<20+int64(ms)*(5<<20)/1000)
	}
	if rate := w.rate() / (1 << 20); math.Abs(rate-5) > 0.01 {
		t.Fatalf("after a whole window at 5 MiB/s: %.2f MiB/s", rate)
	}
	if got := eta(50<<20, w.rate()); got != "10s" {
		t.Errorf("50 MiB at 5 MiB/s: ETA %s, want 10s", got)
	}
	if got := eta(1, 0); got != "-" {
		t.Errorf("no rate yet: ETA %s, want -", got)
	}
	if len(w.samples) > int(rateSpan/rateStep)+2 {
		t.Errorf("%d samples kept, want at most a window's", len(w.samples))
	}
}
