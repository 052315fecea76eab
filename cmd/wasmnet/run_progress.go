package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progress is the line `run` keeps at the bottom of a terminal: what the
// run waits on (starting 12/64 gateways, uploading and compiling the
// module, dealing chunks), the input dealt of its size, the current rate
// and the time left at that rate. Output meant for the same terminal goes
// through it (as an io.Writer), so that lines appear above the bar instead
// of through it.
type progress struct {
	p     *mpb.Progress
	bar   *mpb.Bar
	total int64 // bytes of input, 0 when not known (a FIFO)

	// outMu guards active, so that no write reaches p after finish. The
	// decorators, which mpb calls while it holds its own locks, take mu
	// only.
	outMu  sync.Mutex
	active bool
	stderr io.Writer

	mu    sync.Mutex // guards state and rate
	state progressState
	rate  rateWindow
}

// progressState is what the line says; its text is a function of it alone.
type progressState struct {
	asked    int   // gateways asked for
	started  int   // gateways up (or failed: they are no longer waited on)
	ready    int   // executions of the module started
	chunks   int   // chunks dealt
	bytes    int64 // bytes dealt
	total    int64 // bytes of input; 0: not known
	hasInput bool
}

// phase says what the run waits on.
func (s progressState) phase() string {
	switch {
	case s.asked == 0 || s.started < s.asked:
		return fmt.Sprintf("starting %d/%d gateways", s.started, s.asked)
	case s.ready < s.started && s.chunks == 0:
		return fmt.Sprintf("uploading and compiling the module: %d/%d ready", s.ready, s.started)
	case !s.hasInput:
		return fmt.Sprintf("running on %d gateways", s.ready)
	}
	return fmt.Sprintf("dealing: %d chunks", s.chunks)
}

// newProgress returns the progress display, or nil when stderr is not a
// terminal. It counts no chunks in advance: the size of the input is the
// sum of its files' sizes (unknown if one is not a regular file, which
// could only be read once).
func newProgress(cmd *cobra.Command, files []string) *progress {
	f, ok := cmd.ErrOrStderr().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	pr := &progress{active: true, stderr: f, total: inputSize(files)}
	pr.state.total, pr.state.hasInput = pr.total, len(files) > 0
	pr.p = mpb.New(mpb.WithOutput(f), mpb.WithWidth(24))
	pr.bar = pr.p.AddBar(max(pr.total, 0),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return pr.line(time.Now()) + " " })),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return " " + pr.figures(time.Now()) }),
			decor.Name("  "), decor.Elapsed(decor.ET_STYLE_GO)),
	)
	return pr
}

// inputSize is the total size of files, or 0 when one is not a regular file.
func inputSize(files []string) int64 {
	var n int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil || !st.Mode().IsRegular() {
			return 0
		}
		n += st.Size()
	}
	return n
}

func (pr *progress) line(time.Time) string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.state.phase()
}

// figures is "12.0/256.0 MiB  5.2 MiB/s  ETA 47s", as far as known.
func (pr *progress) figures(now time.Time) string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	s := pr.state
	if !s.hasInput {
		return ""
	}
	pr.rate.add(now, s.bytes)
	rate := pr.rate.rate()
	out := formatMiB(s.bytes)
	if s.total > 0 {
		out += "/" + formatMiB(s.total)
	}
	out += fmt.Sprintf("  %.1f MiB/s", rate/(1<<20))
	if s.total > 0 && s.bytes < s.total {
		out += "  ETA " + eta(s.total-s.bytes, rate)
	}
	return out
}

func formatMiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// eta is how long left bytes take at rate bytes/s, or "-" before there is
// a rate.
func eta(left int64, rate float64) string {
	if rate <= 0 {
		return "-"
	}
	d := time.Duration(float64(left) / rate * float64(time.Second))
	if d > 99*time.Hour {
		return ">99h"
	}
	return d.Round(time.Second).String()
}

// rateWindow is the rate of the last rateSpan: the bytes dealt since its
// oldest sample, over the time since. An average since the start would
// count the minutes the gateways took to start, and lag behind a rate
// that changes.
type rateWindow struct {
	samples []rateSample // oldest first, a step apart
	latest  rateSample
}

type rateSample struct {
	t     time.Time
	bytes int64
}

const (
	rateSpan = 10 * time.Second
	rateStep = 500 * time.Millisecond
)

// add records bytes dealt by now and forgets samples older than the span
// (keeping one at or before its start, so that the span stays whole).
func (w *rateWindow) add(now time.Time, bytes int64) {
	w.latest = rateSample{now, bytes}
	if n := len(w.samples); n == 0 || now.Sub(w.samples[n-1].t) >= rateStep {
		w.samples = append(w.samples, w.latest)
	}
	drop := 0
	for drop+1 < len(w.samples) && now.Sub(w.samples[drop+1].t) >= rateSpan {
		drop++
	}
	w.samples = append(w.samples[:0], w.samples[drop:]...)
}

// rate is bytes per second over the window, 0 before it spans any time.
func (w *rateWindow) rate() float64 {
	if len(w.samples) == 0 {
		return 0
	}
	first := w.samples[0]
	secs := w.latest.t.Sub(first.t).Seconds()
	if secs <= 0 {
		return 0
	}
	return float64(w.latest.bytes-first.bytes) / secs
}

// update changes the state under the lock. pr may be nil.
func (pr *progress) update(fn func(s *progressState)) {
	if pr == nil {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	fn(&pr.state)
}

// gatewaysAsked sets how many gateways the run starts. pr may be nil.
func (pr *progress) gatewaysAsked(n int) { pr.update(func(s *progressState) { s.asked = n }) }

// gatewayStarted counts a gateway started, or failed to. pr may be nil.
func (pr *progress) gatewayStarted(string, error) {
	pr.update(func(s *progressState) { s.started++ })
}

// moduleStarted counts an execution of the module started. pr may be nil.
func (pr *progress) moduleStarted() { pr.update(func(s *progressState) { s.ready++ }) }

// chunkSent counts one chunk of n bytes as sent. pr may be nil.
func (pr *progress) chunkSent(n int) {
	if pr == nil {
		return
	}
	var bytes int64
	pr.update(func(s *progressState) {
		s.chunks++
		s.bytes += int64(n)
		bytes = s.bytes
	})
	if pr.total > 0 {
		pr.bar.SetCurrent(min(bytes, pr.total))
	}
}

// Write prints p above the bar while it is shown, else to stderr.
func (pr *progress) Write(p []byte) (int, error) { return pr.write(p, pr.stderr) }

func (pr *progress) write(p []byte, after io.Writer) (int, error) {
	pr.outMu.Lock()
	defer pr.outMu.Unlock()
	if pr.active {
		return pr.p.Write(p)
	}
	return after.Write(p)
}

// aboveBar writes through pr while the bar is shown, else to w.
type aboveBar struct {
	pr *progress
	w  io.Writer
}

func (a aboveBar) Write(p []byte) (int, error) { return a.pr.write(p, a.w) }

// itemWriter returns the writer for items: through the progress display
// when stdout is the terminal too, else stdout itself.
func (pr *progress) itemWriter(stdout io.Writer) io.Writer {
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return aboveBar{pr, stdout}
	}
	return stdout
}

// finish removes the bar once the run is over; later writes go to stderr.
func (pr *progress) finish() {
	pr.outMu.Lock()
	defer pr.outMu.Unlock()
	if !pr.bar.Completed() {
		pr.bar.Abort(false)
	}
	pr.p.Wait()
	pr.active = false
}
