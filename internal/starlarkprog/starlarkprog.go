// Package starlarkprog is what the source guest (guest/starlark) and its
// clients agree on: the program message and how a program is compiled, so
// that a client can compile a program before it ships it and the guest,
// which runs it compiled to WebAssembly, only decodes it.
package starlarkprog

import (
	"bytes"
	"fmt"
	"slices"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Program is the first message a source guest receives: a program's
// source and, when the client compiled it, its compiled form
// (starlark.Program.Write), which the guest runs if it can read it (an
// interpreter built with another go.starlark.net cannot). Clock grants
// the time of day.
type Program struct {
	File     string `msgpack:"file"`
	Source   string `msgpack:"source"`
	Compiled []byte `msgpack:"compiled,omitempty"`
	Clock    bool   `msgpack:"clock"`
	// Args are the program's typed arguments (gateway's Module.With): one
	// msgpack map from names to values, each predeclared in the program.
	Args []byte `msgpack:"args,omitempty"`
}

// FileOptions lets programs use Python's statements that Starlark leaves
// out by default: execnet's examples loop with while at the top level.
func FileOptions() *syntax.FileOptions {
	return &syntax.FileOptions{
		Set:             true,
		While:           true,
		TopLevelControl: true,
		GlobalReassign:  true,
		Recursion:       true,
	}
}

// Predeclared returns the names the guest predeclares for programs.
func Predeclared() []string {
	return []string{"channel", "newchannel", "json", "math", "time", "argv"}
}

// IsPredeclared reports whether the guest predeclares name for programs.
func IsPredeclared(name string) bool { return slices.Contains(Predeclared(), name) }

// CheckArgName reports why name cannot be a typed argument of a program:
// it must be a Starlark identifier that is neither a keyword nor a name
// the guest predeclares.
func CheckArgName(name string) error {
	if IsPredeclared(name) {
		return fmt.Errorf("argument %q: the guest predeclares that name", name)
	}
	f, err := syntax.ParseExpr("<arg>", name, 0)
	if id, ok := f.(*syntax.Ident); err != nil || !ok || id.Name != name {
		return fmt.Errorf("argument %q: not a Starlark identifier", name)
	}
	return nil
}

// Compile returns the program file with source src, compiled for the
// guest, or nil when it does not compile: the guest then compiles the
// source itself and reports the error with its positions, as it reports
// any other error of the program. args are the names of the program's
// typed arguments, predeclared beside the guest's own names.
func Compile(file, src string, args ...string) []byte {
	isPredeclared := func(name string) bool { return IsPredeclared(name) || slices.Contains(args, name) }
	_, prog, err := starlark.SourceProgramOptions(FileOptions(), file, src, isPredeclared)
	if err != nil {
		return nil
	}
	var b bytes.Buffer
	if err := prog.Write(&b); err != nil {
		return nil
	}
	return b.Bytes()
}
