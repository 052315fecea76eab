package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// WithFileCallback calls fn after the content of each file was sent to a
// target: the target's gateway and destination, and the file's
// slash-separated path relative to the source, as execnet's RSync
// callback. Files the target already had are not reported. Calls for
// targets that run in parallel take turns, so fn needs no lock of its own.
func WithFileCallback(fn func(gw *Gateway, destDir, relPath string)) RSyncOption {
	return func(c *rsyncConfig) { c.onFile = fn }
}

// An RSync sends one directory tree to several targets, each a gateway with
// a destination of its own, as execnet's RSync with add_target and send.
// The source is read and hashed once per Send.
type RSync struct {
	src     string
	opts    []RSyncOption
	targets []rsyncTarget
}

type rsyncTarget struct {
	gw       *Gateway
	dest     string
	finished func(RSyncStats, error)
}

// NewRSync returns an RSync of the tree srcDir with opts (WithDelete,
// WithFilter, WithFileCallback) for every target.
func NewRSync(srcDir string, opts ...RSyncOption) *RSync {
	return &RSync{src: srcDir, opts: opts}
}

// Add adds a target: destDir on gw's agent (relative to its working
// directory when relative). finished, when not nil, is called once that
// target is done, with what it received or why it failed, as execnet's
// finishedcallback. A gateway may be added more than once with different
// destinations.
func (r *RSync) Add(gw *Gateway, destDir string, finished func(RSyncStats, error)) {
	r.targets = append(r.targets, rsyncTarget{gw: gw, dest: destDir, finished: finished})
}

// Send copies the tree to every target in parallel, as Gateway.RSync does
// for one, and returns their stats in the order of Add, and the errors of
// the targets that failed joined, each naming gateway and destination. The
// callbacks have all returned when Send does. ctx bounds the whole
// transfer.
func (r *RSync) Send(ctx context.Context) ([]RSyncStats, error) {
	if len(r.targets) == 0 {
		return nil, errors.New("gateway: rsync: no target added")
	}
	cfg := newRSyncConfig(r.opts)
	m, err := buildManifest(r.src, cfg.filter)
	if err != nil {
		return nil, fmt.Errorf("gateway: rsync: %w", err)
	}
	stats := make([]RSyncStats, len(r.targets))
	errs := make([]error, len(r.targets))
	var (
		wg     sync.WaitGroup
		callMu sync.Mutex // finished callbacks take turns, as file callbacks do
	)
	for i, tg := range r.targets {
		wg.Go(func() {
			stats[i], errs[i] = tg.gw.rsync(ctx, m, tg.dest, cfg)
			if tg.finished != nil {
				callMu.Lock()
				defer callMu.Unlock()
				tg.finished(stats[i], errs[i])
			}
		})
	}
	wg.Wait()
	return stats, errors.Join(errs...)
}
