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

// An RSyncEvent is what a WithProgress callback is told, as execnet's
// RSync callback(type, size, channel) is.
type RSyncEvent struct {
	// Kind is RSyncList once a target has said which files it needs, with
	// Size their total; or RSyncSent after one file was sent to it (Path),
	// with Size its bytes (execnet's "ack").
	Kind    string
	Gateway *Gateway
	Dest    string
	Path    string // slash-separated, relative to the source; "" for RSyncList
	Size    int64
}

// The kinds of RSyncEvent.
const (
	RSyncList = "list"
	RSyncSent = "sent"
)

// WithProgress calls fn with the events of every target: the total size of
// what it needs, then each file sent to it. Calls for targets that run in
// parallel take turns, with those of WithFileCallback too.
func WithProgress(fn func(RSyncEvent)) RSyncOption {
	return func(c *rsyncConfig) { c.onEvent = fn }
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
	opts     []RSyncOption // of this target only
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
// destinations. opts apply to this target only and may hold WithDelete
// (execnet's add_target(gw, dest, delete=True)); the other options shape
// what all targets get, so Send refuses them here.
func (r *RSync) Add(gw *Gateway, destDir string, finished func(RSyncStats, error), opts ...RSyncOption) {
	r.targets = append(r.targets, rsyncTarget{gw: gw, dest: destDir, finished: finished, opts: opts})
}

// config is cfg with the target's own options.
func (tg *rsyncTarget) config(cfg *rsyncConfig) (*rsyncConfig, error) {
	if len(tg.opts) == 0 {
		return cfg, nil
	}
	var own rsyncConfig
	for _, o := range tg.opts {
		o(&own)
	}
	if own.filter != nil || own.onFile != nil || own.onEvent != nil {
		return nil, fmt.Errorf("gateway %s: rsync to %s: only WithDelete may be given for one target", tg.gw.ID(), tg.dest)
	}
	c := *cfg
	c.delete = c.delete || own.delete
	return &c, nil
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
	cfgs := make([]*rsyncConfig, len(r.targets))
	for i := range r.targets {
		var err error
		if cfgs[i], err = r.targets[i].config(cfg); err != nil {
			return nil, fmt.Errorf("gateway: rsync: %w", err)
		}
	}
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
			stats[i], errs[i] = tg.gw.rsync(ctx, m, tg.dest, cfgs[i])
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
