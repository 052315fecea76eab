package starlarkprog

import (
	"bytes"
	"testing"

	"go.starlark.net/starlark"
)

func TestCompile(t *testing.T) {
	for src, compiles := range map[string]bool{
		"channel.send(channel.receive() * 2)":        true,
		"x = [newchannel(), json, math, time, argv]": true,
		"while True:\n    break\n":                   true, // FileOptions: while at top level
		"x = 1\ny = (\n":                             false,
		"undefined_name(1)":                          false,
	} {
		b := Compile("p.star", src)
		if (b != nil) != compiles {
			t.Errorf("%q: compiled %v, want %v", src, b != nil, compiles)
			continue
		}
		if b == nil {
			continue
		}
		prog, err := starlark.CompiledProgram(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%q: the compiled form does not read back: %v", src, err)
		}
		if got := prog.Filename(); got != "p.star" {
			t.Errorf("%q: compiled as %q", src, got)
		}
	}
}
