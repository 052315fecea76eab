// Package channel is the wasmnet wire protocol: frames over any
// io.ReadWriteCloser, a multiplexer that owns the channel ids of one
// connection, and Channel, the two-way stream of msgpack values that clients
// and guests talk over.
//
// The same code runs on both ends: a client (gateway) and an agent (host)
// each wrap their end of the connection in a Mux, with RoleClient and
// RoleAgent so that the ids each side allocates never collide. The package
// knows nothing of WebAssembly; requests such as exec and status are opaque
// bodies that a Handler serves. PROTOCOL.md in this folder specifies the wire
// format so that other implementations can speak it.
//
// # Channels
//
// A channel carries messages in order in both directions. Either side may
// close it; the other side then receives the messages already sent,
// followed by io.EOF, or by a *RemoteError once when the closer gave an
// error. Each channel has a flow-control window: a sender blocks while the
// receiver holds a window's worth of unread bytes, so a slow reader bounds
// memory without stalling the other channels on the connection.
package channel
