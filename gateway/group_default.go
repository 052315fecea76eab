package gateway

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// defaultGroup is the package's one piece of shared state, made on first
// use: the group of the gateways Make starts, as execnet's default_group.
var defaultGroup = sync.OnceValue(func() *Group { return NewGroup() })

// DefaultGroup returns the group that every gateway made by Make joins, as
// execnet's execnet.default_group holds what execnet.makegateway starts:
// DefaultGroup().Terminate(timeout) ends them all, Gateways lists them, and
// a via= in a spec given to Make names a gateway of it. It is one value per
// process, made on first use, and safe for concurrent use like any Group.
//
// A gateway made by Make keeps its own id (gw0 unless its spec or WithID
// says otherwise), so ids in the default group need not be unique: Gateway
// returns the gateway the group made itself, else the first made by Make
// with that id. Gateways made by Make follow those the group made in
// Gateways, do not count against WithMaxGateways, and leave the group when
// they end, as every member does.
func DefaultGroup() *Group { return defaultGroup() }

// SetDefaultSpec sets the spec MakeGateway starts when it is given none,
// as execnet's Group.defaultspec: "popen" until it is set. spec must name
// one gateway of a known type; it is checked now, so that a bad default
// fails here rather than at the next MakeGateway.
func (g *Group) SetDefaultSpec(spec string) error {
	if count, _, ok := strings.Cut(spec, "*"); ok {
		if _, err := strconv.Atoi(count); err == nil {
			return fmt.Errorf("gateway: group: default spec %q names more than one gateway", spec)
		}
	}
	if _, err := parseSpec(spec, newMakeConfig(g.opts).transports); err != nil {
		return err
	}
	g.mu.Lock()
	g.defaultSpec = spec
	g.mu.Unlock()
	return nil
}

// DefaultSpec returns the spec MakeGateway starts when it is given none.
func (g *Group) DefaultSpec() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.defaultSpec == "" {
		return "popen"
	}
	return g.defaultSpec
}

// adopt makes gw, started by Make, a member of g until it ends.
func (g *Group) adopt(gw *Gateway) {
	g.mu.Lock()
	g.adopted = append(g.adopted, gw)
	g.mu.Unlock()
	gw.setOnExit(g.leave)
}

// leaveAdoptedLocked removes gw from the gateways g adopted.
func (g *Group) leaveAdoptedLocked(gw *Gateway) {
	if i := slices.Index(g.adopted, gw); i >= 0 {
		g.adopted = slices.Delete(g.adopted, i, i+1)
	}
}

// adoptedLocked returns the first gateway g adopted with that id, or nil.
func (g *Group) adoptedLocked(id string) *Gateway {
	for _, gw := range g.adopted {
		if gw.id == id {
			return gw
		}
	}
	return nil
}
