// Package pipe sizes the pipes between a client and the agents it starts,
// so that gateways and the bench's raw probes use the same pipe.
package pipe

// Size is what Grow asks the kernel for: the default pipe holds 64 KiB, so
// a 1 MiB message crossed in sixteen reads and writes, each a wake-up of
// the other side. 1 MiB is Linux's default ceiling for users
// (/proc/sys/fs/pipe-max-size).
const Size = 1 << 20
