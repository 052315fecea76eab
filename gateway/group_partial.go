package gateway

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
)

// WithMinGateways makes MakeGateways go on when some gateways do not
// start (a host down, unreachable, or out of disk), as Ansible goes on with
// the hosts it reached: if at least n of those asked for started (all of
// them when fewer were asked for), it returns them with a *StartError that
// names the others. n 0 accepts any number, none included. Without this
// option or WithMinGatewaysFraction, MakeGateways is all or nothing
// (RATIONALE.md, "Why does a Group start all gateways or none by default?").
func WithMinGateways(n int) GroupOption {
	return func(c *groupConfig) { c.partial, c.minCount, c.minFraction = true, max(0, n), 0 }
}

// WithMinGatewaysFraction is WithMinGateways with a fraction of the
// gateways asked for, rounded up: 0.9 of 64 gateways is 58. f is clamped to
// [0, 1].
func WithMinGatewaysFraction(f float64) GroupOption {
	return func(c *groupConfig) {
		c.partial, c.minCount = true, 0
		c.minFraction = min(1, max(0, f))
		if math.IsNaN(f) {
			c.minFraction = 1
		}
	}
}

// minStarted is how many of n gateways must start.
func (c *groupConfig) minStarted(n int) int {
	if c.minFraction > 0 {
		return min(n, int(math.Ceil(c.minFraction*float64(n)-1e-9)))
	}
	return min(n, c.minCount)
}

// A StartError is what MakeGateways of a group made WithMinGateways or
// WithMinGatewaysFraction returns when some gateways did not start. When
// Started is at least Min, the gateways that started were returned with it
// and are in the group; else none was kept.
type StartError struct {
	Failed  []FailedStart // in the order of the specs
	Asked   int           // gateways asked for, N*SPEC counted N times
	Started int
	Min     int // how many had to start
}

// A FailedStart is one gateway that did not start.
type FailedStart struct {
	Index int    // among the specs, N*SPEC expanded
	ID    string // the id it would have had
	Spec  string
	Err   error // why, without the spec and id
}

// maxListed bounds how many failures a StartError's text names.
const maxListed = 3

func (e *StartError) Error() string {
	var b strings.Builder
	if e.Started < e.Min {
		fmt.Fprintf(&b, "gateway: group: %d of %d gateways started, fewer than the %d wanted", e.Started, e.Asked, e.Min)
	} else {
		fmt.Fprintf(&b, "gateway: group: %d of %d gateways did not start", len(e.Failed), e.Asked)
	}
	for i, f := range e.Failed {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-maxListed)
			break
		}
		fmt.Fprintf(&b, "; spec %s (%s): %v", f.Spec, f.ID, f.Err)
	}
	return b.String()
}

// Unwrap returns the error of every failed start.
func (e *StartError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f.Err
	}
	return out
}

// A batch is the starts of one MakeGateways.
type batch struct {
	g        *Group
	sps      []Spec
	expanded []string
	ids      []string

	mu      sync.Mutex // guards started, gws and errs, set by the starts
	started map[string]*Gateway
	gws     []*Gateway
	errs    []error
}

// lookup finds the gateway a via= names: one of this batch or the group's.
func (b *batch) lookup(id string) *Gateway {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gw := b.started[id]; gw != nil {
		return gw
	}
	return b.g.Gateway(id)
}

// startWave starts the gateways of one wave in parallel. Without partial,
// the first failure cancels the others and is returned; with it, each
// failure is kept in errs.
func (b *batch) startWave(ctx context.Context, wave []int, partial bool) error {
	eg, ectx := &errgroup.Group{}, ctx
	if !partial {
		eg, ectx = errgroup.WithContext(ctx)
	}
	eg.SetLimit(b.g.maxParallel)
	for _, i := range wave {
		eg.Go(func() error {
			gw, err := b.startOne(ectx, i)
			b.mu.Lock()
			b.gws[i], b.errs[i] = gw, err
			if gw != nil {
				b.started[b.ids[i]] = gw
			}
			b.mu.Unlock()
			if err == nil || partial {
				return nil
			}
			return startFailed(b.expanded[i], b.ids[i], err)
		})
	}
	return eg.Wait()
}

// startOne starts gateway i, unless its hop is of this batch and failed.
func (b *batch) startOne(ctx context.Context, i int) (*Gateway, error) {
	if via := b.sps[i].Via; via != "" {
		b.mu.Lock()
		j := -1
		for k, id := range b.ids {
			if id == via {
				j = k
			}
		}
		hopFailed := j >= 0 && b.errs[j] != nil
		b.mu.Unlock()
		if hopFailed {
			return nil, fmt.Errorf("via=%s: that gateway did not start", via)
		}
	}
	return b.g.start(ctx, b.sps[i], b.ids[i], b.lookup)
}

// startPartial starts every gateway it can, wave by wave, and keeps them
// if at least need started. It waits for every start even once too few
// can succeed, so that each failure is its own and not a cancellation.
func (b *batch) startPartial(ctx context.Context, waves [][]int, need int) ([]*Gateway, error) {
	for _, wave := range waves {
		b.startWave(ctx, wave, true)
	}
	serr := &StartError{Asked: len(b.sps), Min: need}
	var gws []*Gateway
	var failedIDs []string
	for i, gw := range b.gws {
		if gw != nil {
			gws = append(gws, gw)
			continue
		}
		failedIDs = append(failedIDs, b.ids[i])
		serr.Failed = append(serr.Failed, FailedStart{Index: i, ID: b.ids[i], Spec: b.expanded[i], Err: withoutStartPrefix(b.ids[i], b.errs[i])})
	}
	serr.Started = len(gws)
	if len(gws) < need {
		b.g.unwind(b.ids, b.gws)
		return nil, serr
	}
	b.g.unwind(failedIDs, nil)
	for _, gw := range gws {
		b.g.register(gw)
	}
	if len(serr.Failed) == 0 {
		return gws, nil
	}
	return gws, serr
}
