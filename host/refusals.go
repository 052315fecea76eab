package host

import "strconv"

// What a refusal adds, so that whoever is refused learns which flag or
// key option would allow it. The agent cannot tell which one refused this
// client (its Config says only what is allowed), so each names them all:
// the serve flag that allows it, the authorized_keys options that take it
// from a key, and the agent flag that refuses it.
const (
	raiseMemory    = " (raise it with wasmnet run --memory-limit, or gateway.WithMemoryLimit)"
	raiseMaxMemory = " (ask for less with wasmnet run --memory-limit; the agent's maximum is set by wasmnet serve or agent --max-memory-limit," +
		" or host.Config.WithMaxMemoryLimit)"
	refusedDirs = " (wasmnet serve grants them with --allow-dir-grants, never to a key with restrict in its authorized_keys line;" +
		" wasmnet agent refuses them with --no-dir-grants)"
	refusedHops = " (wasmnet serve serves them with --allow-hops, never to a key with restrict or no-port-forwarding in its authorized_keys line;" +
		" wasmnet agent refuses them with --no-hops)"
	refusedRSync = " (wasmnet serve accepts it with --allow-rsync, never from a key with restrict in its authorized_keys line;" +
		" wasmnet agent refuses it with --no-rsync)"
	refusedCache = " (wasmnet serve answers them with --allow-cache-requests, never from a key with restrict in its authorized_keys line;" +
		" wasmnet agent refuses them with --no-cache-requests)"
)

// formatMiB writes a memory size in MiB when it is a whole number of them,
// else in bytes, so that a small maximum does not read as 0 MiB.
func formatMiB(n uint64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatUint(n>>20, 10) + " MiB"
	}
	return strconv.FormatUint(n, 10) + " bytes"
}
