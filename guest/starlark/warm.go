package main

import (
	"github.com/vmihailenco/msgpack/v5"
	"go.starlark.net/starlark"

	"github.com/wasmnet/wasmnet/internal/starlarkprog"
)

// The interpreter runs a program at start-up, before any client's: an
// agent starts every execution from an image of the guest after its
// initialisation (abi/README.md), so whatever the first program sets up
// on first use (msgpack's decoder for the program message, the runtime's
// interface tables, heap spans, a grown goroutine stack) is then part of
// the image instead of being redone by every execution. It uses no
// channel and prints nothing, which would keep the agent from taking the
// image.
func init() { warmUp() }

// warmProgram uses what programs commonly do: functions and recursion,
// loops, comprehensions, dicts, lists, sets, string formatting, json and
// math.
const warmProgram = `
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)

def deep(n):
    return 0 if n == 0 else 1 + deep(n - 1)

words = {}
for w in "the cat and the hat".split(" "):
    words[w] = words.get(w, 0) + 1
squares = [x * x for x in range(10) if x % 2 == 0]
back = json.decode(json.encode({"words": words, "squares": squares, "t": (1, 2.5, None, True)}))
total = fib(12) + deep(32) + int(math.sqrt(16)) + len("%s-%d-%r" % ("a", 1, [1])) + len(set([1, 2]))
while total > 0:
    total //= 2
print("warm", total, b"bytes", 1.5 * 2, sorted(back["words"].items()))
`

func warmUp() {
	b, err := msgpack.Marshal(&program{File: "warm.star", Source: warmProgram})
	if err != nil {
		return
	}
	var p program
	if msgpack.Unmarshal(b, &p) != nil {
		return
	}
	discard := func(*starlark.Thread, string) {}
	execProgram(newThread(&p, discard), &p, starlark.None)
	// And compiled, as clients send programs.
	p.Compiled = starlarkprog.Compile(p.File, p.Source)
	execProgram(newThread(&p, discard), &p, starlark.None)
	p.Compiled = nil
	// And a failing one, for the backtrace a client gets.
	p.Source = "def f():\n    fail('warm')\nf()\n"
	if err := execProgram(newThread(&p, discard), &p, starlark.None); err != nil {
		errorText(err)
	}
}
