package outline

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// answer is a module whose one function, exported as f, returns 42.
var answer = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x05\x01\x60\x00\x01\x7f" + // type () -> i32
	"\x03\x02\x01\x00" + // one function of that type
	"\x07\x05\x01\x01f\x00\x00" + // exported as f
	"\x0a\x06\x01\x04\x00\x41\x2a\x0b") // i32.const 42

// TestOutlineRunsNoCode: the outline of a module has its function, which
// traps instead of running the module's code.
func TestOutlineRunsNoCode(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	call := func(wasm []byte) (uint64, error) {
		m, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close(ctx)
		res, err := m.ExportedFunction("f").Call(ctx)
		if err != nil {
			return 0, err
		}
		return res[0], nil
	}
	if got, err := call(answer); err != nil || got != 42 {
		t.Fatalf("the module: %v, %v", got, err)
	}
	ol, err := Of(answer, []byte("tag"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(ol); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("the outline's function did not trap as unreachable: %v", err)
	}
}

// TestOutlineKeepsShape: the outline of a Go reactor imports and exports
// what the reactor does, with the same types, and is a fraction of it.
func TestOutlineKeepsShape(t *testing.T) {
	wasm, err := os.ReadFile(testwasm.GoReactor(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	ol, err := Of(wasm, []byte("tag"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ol) > len(wasm)/2 {
		t.Errorf("outline of %d bytes for a module of %d", len(ol), len(wasm))
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	shape := func(wasm []byte) string {
		c, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		describe := func(defs []api.FunctionDefinition) {
			for _, d := range defs {
				mod, name, _ := d.Import()
				b.WriteString(mod + "." + name + " " + strings.Join(d.ExportNames(), ",") + " ")
				for _, p := range d.ParamTypes() {
					b.WriteString(api.ValueTypeName(p))
				}
				b.WriteString("->")
				for _, r := range d.ResultTypes() {
					b.WriteString(api.ValueTypeName(r))
				}
				b.WriteString("\n")
			}
		}
		describe(c.ImportedFunctions())
		for _, name := range slices.Sorted(maps.Keys(c.ExportedFunctions())) {
			describe([]api.FunctionDefinition{c.ExportedFunctions()[name]})
		}
		for _, name := range slices.Sorted(maps.Keys(c.ExportedMemories())) {
			m := c.ExportedMemories()[name]
			max, _ := m.Max()
			fmt.Fprintf(&b, "%s memory %d %d\n", name, m.Min(), max)
		}
		return b.String()
	}
	if got, want := shape(ol), shape(wasm); got != want {
		t.Fatalf("the outline's shape:\n%s\nthe module's:\n%s", got, want)
	}
}

// TestOutlineTagged: outlines of one module under two tags differ, so
// that modules of one shape never share an outline, and carry the
// section a host refuses in modules sent to it.
func TestOutlineTagged(t *testing.T) {
	a, err := Of(answer, []byte("code a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Of(answer, []byte("code b"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two tags, one outline")
	}
	if !Has(a) || Has(answer) {
		t.Fatalf("Has: outline %v, module %v", Has(a), Has(answer))
	}
}

// TestOutlineOfGarbage: bytes that are not a module, or whose sections
// run past their end, have no outline.
func TestOutlineOfGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("\x00asm"), answer[:len(answer)-2], append([]byte("\x00asm\x02\x00\x00\x00"), answer[8:]...)} {
		if _, err := Of(b, nil); err == nil {
			t.Errorf("Of(%q) did not fail", b)
		}
	}
}
