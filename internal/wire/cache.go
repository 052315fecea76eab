package wire

// KindCache asks the agent what its caches hold, and may prune them:
// CacheRequest -> CacheReply. The request names no path: the agent walks
// only its own cache directory (and, when that is the default one, the
// agent binaries uploaded beside it).
const KindCache uint8 = 11

// CacheRequest lists the caches, or with Prune removes every entry last
// used more than OlderThanNanos ago (0: every entry) and lists what is left.
type CacheRequest struct {
	Prune          bool
	OlderThanNanos int64
}

// CacheKind sums up the entries of one kind: "compiled" (machine code and
// its index), "modules", "prepared" (initialised images and metadata),
// "agents" (uploaded agent binaries).
type CacheKind struct {
	Kind          string
	Entries       int
	Bytes         int64
	OldestNanos   int64 // modification times, Unix nanoseconds; 0 when empty
	NewestNanos   int64
	Dir           string
	RemovedCount  int
	RemovedBytes  int64
	RemoveFailure string // the first removal that failed, if any
}

// CacheReply is the agent's answer: one CacheKind per kind, in a fixed
// order.
type CacheReply struct {
	Kinds []CacheKind
}
