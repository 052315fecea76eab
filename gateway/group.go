package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wasmnet/wasmnet/channel"
)

// A Group holds gateways by id, as execnet's Group does: it names them
// gw0, gw1, ... in creation order unless their spec says id=, starts many
// at once, runs a module on all of them, and ends them together.
//
// A gateway leaves its group when it ends, by Exit, Terminate or the loss
// of its agent. All methods are safe for concurrent use.
type Group struct {
	groupConfig
	sshPool *sshPool
	agents  *agentPool // the processes its popen gateways share

	// mu guards the id table: order lists ids in creation order, including
	// those reserved by starts in progress, whose byID entry is nil.
	mu     sync.Mutex
	order  []string
	byID   map[string]*Gateway
	nextID int // the number of the next automatic id, gw<nextID>
	// defaultSpec is what MakeGateway starts when given no spec ("" for
	// popen); adopted are the gateways Make started, in the default group.
	defaultSpec string
	adopted     []*Gateway
}

// A GroupOption configures NewGroup.
type GroupOption func(*groupConfig)

// groupConfig is what GroupOptions set; a Group keeps it unchanged.
type groupConfig struct {
	opts         []Option // for every gateway the group makes
	maxGateways  int
	maxParallel  int
	partial      bool    // MakeGateways keeps what started (group_partial.go)
	minCount     int     // with partial: at least this many must start,
	minFraction  float64 // or this fraction of those asked for, when > 0
	sharedAgents int     // WithSharedAgents
}

// WithGatewayOptions passes opts to every gateway the group makes, for
// example WithOutput or WithAgentPath.
func WithGatewayOptions(opts ...Option) GroupOption {
	return func(c *groupConfig) { c.opts = append(c.opts, opts...) }
}

// WithMaxGateways sets how many gateways the group may hold at once.
// Default DefaultMaxGateways.
func WithMaxGateways(n int) GroupOption {
	return func(c *groupConfig) { c.maxGateways = n }
}

// DefaultMaxParallel is how many gateways a Group starts at once unless
// WithMaxParallel says otherwise.
const DefaultMaxParallel = 64

// WithMaxParallel sets how many gateways MakeGateways starts at once, and
// so how many agent uploads run at once. Default DefaultMaxParallel.
func WithMaxParallel(n int) GroupOption {
	return func(c *groupConfig) { c.maxParallel = max(1, n) }
}

// NewGroup returns an empty group.
func NewGroup(opts ...GroupOption) *Group {
	cfg := groupConfig{maxGateways: DefaultMaxGateways, maxParallel: DefaultMaxParallel, sharedAgents: DefaultSharedAgents()}
	for _, o := range opts {
		o(&cfg)
	}
	return &Group{groupConfig: cfg, byID: map[string]*Gateway{}, sshPool: newSSHPool(), agents: newAgentPool(cfg.sharedAgents)}
}

// MakeGateway starts the gateway spec names (DefaultSpec when spec is
// empty) and adds it to the group. ctx bounds only the start.
func (g *Group) MakeGateway(ctx context.Context, spec string) (*Gateway, error) {
	if spec == "" {
		spec = g.DefaultSpec()
	}
	gws, err := g.MakeGateways(ctx, spec)
	if err != nil {
		return nil, err
	}
	return gws[0], nil
}

// MakeGateways starts the gateways specs name, where "N*SPEC" stands for N
// copies of SPEC, and adds them to the group in the order of specs. They
// start in parallel, except that a gateway whose via= names another of the
// same call starts once that hop has: "popen//id=hop", "ssh=inner//via=hop"
// works in one call. A via= that names no gateway of the group or of the
// call, or hops that form a cycle, is an error before anything starts.
//
// By default it is all or nothing, as execnet's makegateway: if any start
// fails, those that started are exited and the error names the failed
// spec; the group is then as it was. A group made WithMinGateways or
// WithMinGatewaysFraction starts every gateway it can instead: if enough
// started, it returns them (in the order of specs, without those that
// failed) together with a *StartError naming the others and why; if too
// few did, it exits them and returns no gateway and the *StartError.
// ctx bounds only the start.
func (g *Group) MakeGateways(ctx context.Context, specs ...string) ([]*Gateway, error) {
	sps, expanded, err := g.parseSpecs(specs)
	if err != nil {
		return nil, err
	}
	ids, err := g.reserve(sps)
	if err != nil {
		return nil, err
	}
	waves, err := g.startOrder(sps, ids)
	if err != nil {
		g.unwind(ids, nil)
		return nil, err
	}
	b := &batch{g: g, sps: sps, expanded: expanded, ids: ids, gws: make([]*Gateway, len(sps)),
		errs: make([]error, len(sps)), started: map[string]*Gateway{}}
	if g.partial {
		return b.startPartial(ctx, waves, g.minStarted(len(sps)))
	}
	for _, wave := range waves {
		if err := b.startWave(ctx, wave, false); err != nil {
			g.unwind(ids, b.gws)
			return nil, err
		}
	}
	for _, gw := range b.gws {
		g.register(gw)
	}
	return b.gws, nil
}

// parseSpecs expands and parses the specs of one MakeGateways, within the
// room the group has left.
func (g *Group) parseSpecs(specs []string) ([]Spec, []string, error) {
	g.mu.Lock()
	room := g.maxGateways - len(g.order)
	g.mu.Unlock()
	expanded, err := expandSpecs(room, specs)
	var tooMany *TooManyGatewaysError
	if errors.As(err, &tooMany) {
		tooMany.Limit = g.maxGateways
	}
	if err != nil {
		return nil, nil, err
	}
	if len(expanded) == 0 {
		return nil, nil, errors.New("gateway: group: no spec given")
	}
	sps := make([]Spec, len(expanded))
	transports := newMakeConfig(g.opts).transports
	for i, s := range expanded {
		if sps[i], err = parseSpec(s, transports); err != nil {
			return nil, nil, err
		}
	}
	return sps, expanded, nil
}

// startOrder sorts the starts of one MakeGateways into waves: the first
// holds every spec whose hop (if any) is already in the group, each next
// one the specs whose hop is in an earlier wave. It fails on a via= that
// names no gateway and on a cycle of hops.
func (g *Group) startOrder(sps []Spec, ids []string) ([][]int, error) {
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	depth := make([]int, len(sps)) // 0: not yet known; else the wave number + 1
	var visit func(i int, path []string) (int, error)
	visit = func(i int, path []string) (int, error) {
		if depth[i] > 0 {
			return depth[i], nil
		}
		if slices.Contains(path, ids[i]) {
			return 0, fmt.Errorf("gateway: group: via= hops form a cycle: %s -> %s", strings.Join(path, " -> "), ids[i])
		}
		d := 1
		if via := sps[i].Via; via != "" {
			j, inBatch := index[via]
			switch {
			case inBatch:
				dj, err := visit(j, append(path, ids[i]))
				if err != nil {
					return 0, err
				}
				d = dj + 1
			case g.Gateway(via) == nil:
				return 0, fmt.Errorf("gateway: group: spec %s (%s): via=%s: the group has no gateway %q, and no spec of this call has that id", sps[i], ids[i], via, via)
			}
		}
		depth[i] = d
		return d, nil
	}
	var waves [][]int
	for i := range sps {
		d, err := visit(i, nil)
		if err != nil {
			return nil, err
		}
		for len(waves) < d {
			waves = append(waves, nil)
		}
		waves[d-1] = append(waves[d-1], i)
	}
	return waves, nil
}

// start makes one gateway under the id reserved for it; hop finds the
// gateway its via= names.
func (g *Group) start(ctx context.Context, sp Spec, id string, hop func(id string) *Gateway) (*Gateway, error) {
	if sp.Via != "" && hop(sp.Via) == nil {
		return nil, fmt.Errorf("via=%s: the group has no gateway %q", sp.Via, sp.Via)
	}
	cfg := newMakeConfig(g.opts)
	cfg.id = id
	cfg.via = hop
	cfg.sshPool = g.sshPool
	cfg.agents = g.agents
	sp.ID = id
	return makeGateway(ctx, sp, cfg)
}

// reserve assigns ids to sps, checking explicit ones for duplicates among
// themselves and in the group, so that parallel starts cannot take the same.
func (g *Group) reserve(sps []Spec) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.order)+len(sps) > g.maxGateways { // another MakeGateways took the room
		return nil, &TooManyGatewaysError{Spec: sps[len(sps)-1].String(), Limit: g.maxGateways}
	}
	taken := func(id string) bool { _, ok := g.byID[id]; return ok }
	ids := make([]string, len(sps))
	mine := map[string]bool{}
	for i, sp := range sps {
		if sp.ID == "" {
			continue
		}
		if taken(sp.ID) || mine[sp.ID] {
			return nil, fmt.Errorf("gateway: group: duplicate gateway id %q", sp.ID)
		}
		ids[i] = sp.ID
		mine[sp.ID] = true
	}
	for i := range ids {
		for ids[i] == "" {
			id := "gw" + strconv.Itoa(g.nextID)
			g.nextID++
			if !taken(id) && !mine[id] {
				ids[i] = id
			}
		}
	}
	for _, id := range ids {
		g.byID[id] = nil
		g.order = append(g.order, id)
	}
	return ids, nil
}

// unwind exits the gateways of a failed MakeGateways and frees their ids.
func (g *Group) unwind(ids []string, gws []*Gateway) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, gw := range gws {
		if gw != nil {
			wg.Go(func() { gw.Exit(ctx) })
		}
	}
	wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		g.removeLocked(id)
	}
}

// register fills a reserved id with its started gateway, which leaves the
// group when it ends.
func (g *Group) register(gw *Gateway) {
	g.mu.Lock()
	g.byID[gw.id] = gw
	g.mu.Unlock()
	gw.setOnExit(g.leave)
}

// leave removes gw, which has ended, from the group.
func (g *Group) leave(gw *Gateway) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.byID[gw.id] == gw {
		g.removeLocked(gw.id)
	}
	g.leaveAdoptedLocked(gw)
}

func (g *Group) removeLocked(id string) {
	delete(g.byID, id)
	if i := slices.Index(g.order, id); i >= 0 {
		g.order = slices.Delete(g.order, i, i+1)
	}
}

// Gateway returns the group's gateway with that id, or nil.
func (g *Group) Gateway(id string) *Gateway {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gw := g.byID[id]; gw != nil {
		return gw
	}
	return g.adoptedLocked(id)
}

// Gateways returns the group's gateways in creation order.
func (g *Group) Gateways() []*Gateway {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*Gateway, 0, len(g.order))
	for _, id := range g.order {
		if gw := g.byID[id]; gw != nil {
			out = append(out, gw)
		}
	}
	return append(out, g.adopted...)
}

// RemoteExec runs m on every gateway of the group, in parallel, and returns
// their channels as one MultiChannel in creation order. If any fails, the
// channels already opened are closed. ctx bounds the starts.
func (g *Group) RemoteExec(ctx context.Context, m Module, opts ...ExecOption) (*MultiChannel, error) {
	gws := g.Gateways()
	if len(gws) == 0 {
		return nil, errors.New("gateway: group: remote exec: the group has no gateways")
	}
	chans := make([]*channel.Channel, len(gws))
	var eg errgroup.Group
	for i, gw := range gws {
		eg.Go(func() error {
			ch, err := gw.RemoteExec(ctx, m, opts...)
			chans[i] = ch
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		for _, ch := range chans {
			if ch != nil {
				ch.Close()
			}
		}
		return nil, err
	}
	return NewMultiChannel(gws, chans), nil
}

// Terminate asks every agent of the group to end, all at once, and kills
// those still running after timeout. It returns within about timeout
// (plus a short grace for the kill to take), whatever the agents do, and an
// error naming the gateways that had to be killed. Afterwards no agent
// process of the group remains. Gateways started while Terminate runs are
// not ended by it.
func (g *Group) Terminate(timeout time.Duration) error {
	gws := g.Gateways()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var (
		mu     sync.Mutex
		killed []string
		stuck  []string
		wg     sync.WaitGroup
	)
	for _, gw := range gws {
		wg.Go(func() {
			go gw.Exit(ctx) // asks to end; once ctx ends it kills and reaps
			select {
			case <-gw.Done():
				return
			case <-ctx.Done():
			}
			// A transport's Kill may block (a dead link under an SSH
			// session, a hook of the caller's): it must not hold
			// Terminate past its bound.
			go gw.kill()
			mu.Lock()
			killed = append(killed, gw.id)
			mu.Unlock()
			select {
			case <-gw.Done():
			case <-time.After(killGrace):
				mu.Lock()
				stuck = append(stuck, gw.id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	switch {
	case len(stuck) > 0:
		slices.Sort(stuck)
		return fmt.Errorf("gateway: group: terminate: %s not reaped %v after being killed", strings.Join(stuck, ", "), killGrace)
	case len(killed) > 0:
		slices.Sort(killed)
		return fmt.Errorf("gateway: group: terminate: killed %s, still running after %v", strings.Join(killed, ", "), timeout)
	}
	return nil
}

// killGrace is how long Terminate waits for a killed agent to be reaped.
const killGrace = 5 * time.Second
