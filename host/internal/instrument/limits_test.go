package instrument_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wasmnet/wasmnet/host/internal/instrument"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

func wat(t *testing.T, src string) []byte { return testwasm.Wat(t, src) }

// oneFunc returns a module of one function () -> () with body code
// (locals and instructions).
func oneFunc(code []byte) []byte { return funcs(1, code) }

// funcs returns a module of n functions () -> (), each with body code.
func funcs(n int, code []byte) []byte {
	section := func(m []byte, id byte, body []byte) []byte {
		m = append(append(m, id), binary.AppendUvarint(nil, uint64(len(body)))...)
		return append(m, body...)
	}
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = section(m, 1, []byte{1, 0x60, 0, 0}) // type () -> ()
	m = section(m, 3, append(binary.AppendUvarint(nil, uint64(n)), make([]byte, n)...))
	body := binary.AppendUvarint(nil, uint64(n))
	for range n {
		body = append(binary.AppendUvarint(body, uint64(len(code))), code...)
	}
	return section(m, 10, body)
}

// TestTableGrowthIsCapped: a guest's table.grow past MaxTableEntries
// returns -1 rather than taking the host's memory, whether the table
// declared no maximum or a larger one; a smaller maximum stays.
func TestTableGrowthIsCapped(t *testing.T) {
	const src = `(module
  (table $none 1 funcref) (table $big 1 100000000 funcref) (table $small 1 10 funcref)
  (func (export "none") (param i32) (result i32) (table.grow $none (ref.null func) (local.get 0)))
  (func (export "big") (param i32) (result i32) (table.grow $big (ref.null func) (local.get 0)))
  (func (export "small") (param i32) (result i32) (table.grow $small (ref.null func) (local.get 0))))`
	out, err := instrument.Module(wat(t, src), 1000)
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, 1000)
	mod := h.instantiate(t, out)
	for _, tt := range []struct {
		fn    string
		delta uint64
		want  int32
	}{
		{"none", instrument.MaxTableEntries, -1},
		{"big", instrument.MaxTableEntries, -1},
		{"small", 10, -1},
		{"none", instrument.MaxTableEntries - 1, 1},
		{"big", 100, 1},
		{"small", 9, 1},
	} {
		if got := int32(call(t, mod, tt.fn, tt.delta)); got != tt.want {
			t.Errorf("%s: table.grow by %d returned %d, want %d", tt.fn, tt.delta, got, tt.want)
		}
	}
}

// TestRefusesCostlyShapes: a module whose shape would make its
// compilation costly is refused with an error that names the bound.
func TestRefusesCostlyShapes(t *testing.T) {
	nested := func(open string, n int) string {
		return "(module (func " + strings.Repeat(open+"\n", n) + strings.Repeat("end\n", n) + "))"
	}
	for _, tt := range []struct {
		name, src, want string
	}{
		{"loops", nested("loop", instrument.MaxLoopNesting+1), "loops nested"},
		{"functions", "(module " + strings.Repeat("(func)", instrument.MaxFuncs+1) + ")", "functions"},
		{"table", "(module (table 2000000 funcref))", "entries"},
		{"function size", "(module (func " + strings.Repeat("nop ", instrument.MaxFuncBytes) + "))", "bytes of code"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := instrument.Module(wat(t, tt.src), 1000)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "bound") {
				t.Errorf("got %v, want a refusal naming %q and its bound", err, tt.want)
			}
		})
	}
	// wat2wasm cannot nest that deep.
	code := append([]byte{0}, bytes.Repeat([]byte{0x02, 0x40}, instrument.MaxNesting+1)...)
	code = append(code, bytes.Repeat([]byte{0x0b}, instrument.MaxNesting+2)...)
	_, err := instrument.Module(oneFunc(code), 1000)
	if err == nil || !strings.Contains(err.Error(), "blocks nested") {
		t.Errorf("got %v, want a refusal naming the nesting of blocks", err)
	}
	// Functions each within the bound on nesting, but so many that their
	// compilation would take minutes.
	deep := append([]byte{0}, bytes.Repeat([]byte{0x02, 0x40}, instrument.MaxNesting)...)
	deep = append(deep, bytes.Repeat([]byte{0x0b}, instrument.MaxNesting+1)...)
	n := int(instrument.MaxCompileCost/(uint64(len(deep))*instrument.MaxNesting)) + 1
	_, err = instrument.Module(funcs(n, deep), 1000)
	if err == nil || !strings.Contains(err.Error(), "too deeply nested for its size") {
		t.Errorf("got %v for %d functions of %d nested blocks, want a refusal", err, n, instrument.MaxNesting)
	}
	// Just within the bounds is fine.
	ok := nested("loop", instrument.MaxLoopNesting)
	out, err := instrument.Module(wat(t, ok), 1000)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, out); err != nil {
		t.Fatal(err)
	}
}
