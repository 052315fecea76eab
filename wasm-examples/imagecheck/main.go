// Command imagecheck is a test guest for instance images: it reports what
// it finds of earlier executions in its variables and anywhere in its
// linear memory, then does what it is told. Build it as a command or as a
// reactor (-buildmode=c-shared); the tests run both.
//
// It receives a secret string and a command, and sends back a map:
// "runs" and "init_runs" (1 in a fresh instance), "found" (how many
// copies of the secret, xor-masked, it found in memory that it did not
// write itself in this execution). Then, for "write", it writes the
// masked secret into a package variable and a 16 MiB heap buffer (the
// memory grows for it) and returns; for "trap" it does so and panics; for
// "note" it writes it into a package variable and a 2 MiB heap buffer
// allocated before the probe (where the next execution's probe lies) and
// returns: few enough pages that the agent resets this memory for the
// next execution rather than mapping a fresh one. "small" writes it into
// a package variable and a 16 KiB heap buffer and "peek" only looks, both
// with a 16 KiB probe: their memory does not grow, so the agent keeps
// their instance, reset, for the next execution.
package main

import (
	"bytes"
	"unsafe"

	"github.com/wasmnet/wasmnet/guest"
)

var (
	runs     int
	initRuns int
	kept     []byte // the masked secret, left in memory by "write"
	big      []byte
	note     []byte
)

func init() { initRuns++ }

const mask = 0x5a

func main() {
	ch := guest.Channel()
	runs++
	var req struct {
		Secret  string `msgpack:"secret"`
		Command string `msgpack:"command"`
	}
	if err := ch.ReceiveInto(&req); err != nil {
		panic(err)
	}
	masked := make([]byte, len(req.Secret))
	for i := range masked {
		masked[i] = req.Secret[i] ^ mask
	}
	// Filled after the look, where the probe of the next execution,
	// which allocates no note first, will lie.
	var noteBuf []byte
	if req.Command == "note" {
		noteBuf = make([]byte, 2<<20)
	}
	// Grow the heap past where the last execution wrote, then look at
	// everything below its end.
	probeSize := 24 << 20
	if req.Command == "small" || req.Command == "peek" {
		probeSize = 16 << 10
	}
	probe := make([]byte, probeSize)
	probe[len(probe)-1] = 1
	last := unsafe.Pointer(&probe[len(probe)-1])
	end := uintptr(last)
	const start = 4096
	// Linear memory from address 4096 (below it Go keeps nothing) up to
	// the probe's end, reached from a real pointer.
	mem := unsafe.Slice((*byte)(unsafe.Add(last, -int(end-start))), end-start)
	own := uintptr(unsafe.Pointer(&masked[0]))
	found := 0
	for off := 0; ; {
		i := bytes.Index(mem[off:], masked)
		if i < 0 {
			break
		}
		if uintptr(start+off+i) != own {
			found++
		}
		off += i + 1
	}
	if err := ch.Send(map[string]any{"runs": runs, "init_runs": initRuns, "found": found}); err != nil {
		panic(err)
	}
	switch req.Command {
	case "small":
		kept = masked
		note = make([]byte, 16<<10)
		for i := 0; i+len(masked) <= len(note); i += 1 << 10 {
			copy(note[i:], masked)
		}
	case "note":
		kept = masked
		note = noteBuf
		for i := 0; i+len(masked) <= len(note); i += 64 << 10 {
			copy(note[i:], masked)
		}
	case "write", "trap":
		kept = masked
		big = make([]byte, 16<<20)
		for i := 0; i+len(masked) <= len(big); i += 1 << 20 {
			copy(big[i:], masked)
		}
		if req.Command == "trap" {
			panic("imagecheck: trap after writing the secret")
		}
	}
	probe = nil
}
