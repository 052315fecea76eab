package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// CacheKind sums up what an agent keeps of one kind: "compiled" (machine
// code and its index), "modules", "prepared" (initialised images),
// "agents" (agent binaries uploaded by ssh= gateways).
type CacheKind struct {
	Kind           string
	Dir            string // where they are; "" when the agent keeps none
	Entries        int
	Bytes          int64
	Oldest, Newest time.Time // last modified; zero when there is none
	Removed        int       // by a prune
	RemovedBytes   int64
	RemoveFailure  string // the first removal that failed, if any
}

// RemoteCache asks the agent what its caches hold, by kind. With prune it
// first removes every entry last modified more than olderThan ago, or every
// entry when olderThan is 0. An agent may refuse (a `wasmnet serve`
// does unless started with --allow-cache-requests).
func (g *Gateway) RemoteCache(ctx context.Context, prune bool, olderThan time.Duration) ([]CacheKind, error) {
	body, err := msgpack.Marshal(wire.CacheRequest{Prune: prune, OlderThanNanos: int64(olderThan)})
	if err != nil {
		return nil, err
	}
	out, err := g.mux.Call(ctx, wire.KindCache, body)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: cache: %w", g.id, err)
	}
	var reply wire.CacheReply
	if err := channel.UnmarshalInto(out, &reply); err != nil {
		return nil, fmt.Errorf("gateway %s: cache: %w", g.id, err)
	}
	kinds := make([]CacheKind, 0, len(reply.Kinds))
	for _, k := range reply.Kinds {
		kinds = append(kinds, CacheKind{Kind: k.Kind, Dir: k.Dir, Entries: k.Entries, Bytes: k.Bytes,
			Oldest: unixTime(k.OldestNanos), Newest: unixTime(k.NewestNanos),
			Removed: k.RemovedCount, RemovedBytes: k.RemovedBytes, RemoveFailure: k.RemoveFailure})
	}
	return kinds, nil
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
