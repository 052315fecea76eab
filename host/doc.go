// Package host is the wasmnet agent: it serves one connection from a
// client, keeps a store of compiled modules addressed by sha256, and runs
// each execution in a fresh, sandboxed wazero instance bound to a channel.
//
// Serve is the whole agent; `wasmnet agent` calls it on stdin/stdout. An
// [Engine] holds what a process keeps for every connection it serves (the
// runtime, compiled modules, images): `wasmnet serve` shares one among its
// connections, each a tenant of it ([Config.WithTenant]).
// Nothing is shared between executions: each gets its own instance, memory
// and WASI configuration, and a guest sees no file, environment variable,
// clock or randomness that the client did not grant.
package host
