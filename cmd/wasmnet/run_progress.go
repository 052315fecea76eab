package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progress is the line `run` keeps at the bottom of a terminal while it
// deals out input: chunks sent of the total, rate and elapsed time. Output
// meant for the same terminal goes through it (as an io.Writer), so that
// lines appear above the bar instead of through it.
type progress struct {
	p     *mpb.Progress
	bar   *mpb.Bar
	start time.Time
	bytes atomic.Int64

	mu     sync.Mutex // guards active, so that no write reaches p after finish
	active bool
	stderr io.Writer
}

// newProgress returns the progress display, or nil when there is no input
// or stderr is not a terminal.
func newProgress(ctx context.Context, cmd *cobra.Command, files []string, chunkSize int) (*progress, error) {
	f, ok := cmd.ErrOrStderr().(*os.File)
	if len(files) == 0 || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, nil
	}
	total, err := countChunks(ctx, files, splitter{size: chunkSize, max: chunkLimit(0)})
	if err != nil {
		return nil, err
	}
	pr := &progress{start: time.Now(), active: true, stderr: f}
	pr.p = mpb.New(mpb.WithOutput(f), mpb.WithWidth(30))
	pr.bar = pr.p.AddBar(total,
		mpb.PrependDecorators(decor.Name("chunks "), decor.CountersNoUnit("%d/%d")),
		mpb.AppendDecorators(decor.Any(pr.rate), decor.Name("  "), decor.Elapsed(decor.ET_STYLE_GO)),
	)
	return pr, nil
}

func (pr *progress) rate(decor.Statistics) string {
	secs := time.Since(pr.start).Seconds()
	if secs <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f MiB/s", float64(pr.bytes.Load())/(1<<20)/secs)
}

// chunkSent counts one chunk of n bytes as sent. pr may be nil.
func (pr *progress) chunkSent(n int) {
	if pr == nil {
		return
	}
	pr.bytes.Add(int64(n))
	pr.bar.Increment()
}

// Write prints p above the bar while it is shown, else to stderr.
func (pr *progress) Write(p []byte) (int, error) { return pr.write(p, pr.stderr) }

func (pr *progress) write(p []byte, after io.Writer) (int, error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
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
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if !pr.bar.Completed() {
		pr.bar.Abort(false)
	}
	pr.p.Wait()
	pr.active = false
}
