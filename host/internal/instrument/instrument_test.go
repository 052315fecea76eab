package instrument_test

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmnet/wasmnet/host/internal/instrument"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

//go:embed testdata/loops.wasm
var loopsWasm []byte

// host is a runtime with the imports loops.wasm and the rewrite need: a
// yield that counts its calls and can be told to stop the guest.
type host struct {
	rt     wazero.Runtime
	yields int
	notes  []uint32
	stopAt int // yield traps on this call; 0 never
}

var errStopped = errors.New("stopped by the host")

func newHost(t *testing.T, budget int32) *host {
	t.Helper()
	ctx := context.Background()
	h := &host{rt: wazero.NewRuntime(ctx)}
	t.Cleanup(func() { h.rt.Close(ctx) })
	yield := func() int32 {
		h.yields++
		if h.yields == h.stopAt {
			panic(errStopped)
		}
		return budget
	}
	_, err := h.rt.NewHostModuleBuilder(instrument.ImportModule).
		NewFunctionBuilder().WithFunc(yield).Export(instrument.ImportName).
		NewFunctionBuilder().WithFunc(yield).Export(instrument.ImportNameStatic).
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.rt.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(func(v uint32) { h.notes = append(h.notes, v) }).Export("note").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *host) instantiate(t *testing.T, wasm []byte) api.Module {
	t.Helper()
	mod, err := h.rt.InstantiateWithConfig(context.Background(), wasm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

func call(t *testing.T, mod api.Module, name string, args ...uint64) uint64 {
	t.Helper()
	res, err := mod.ExportedFunction(name).Call(context.Background(), args...)
	if err != nil {
		t.Fatalf("%s%v: %v", name, args, err)
	}
	return res[0]
}

// The rewritten module computes what the original does, through direct and
// indirect calls, element segments, ref.func in a global and the start
// function, all of which name functions whose indices shifted.
func TestSameResults(t *testing.T) {
	const budget = 100
	rewritten, err := instrument.Module(loopsWasm, budget)
	if err != nil {
		t.Fatal(err)
	}
	plain, counted := newHost(t, budget), newHost(t, budget)
	a, b := plain.instantiate(t, loopsWasm), counted.instantiate(t, rewritten)
	cases := []struct {
		name string
		args []uint64
	}{
		{"sum", []uint64{100000}},
		{"fib", []uint64{20}},
		{"indirect", []uint64{0, 10}},
		{"indirect", []uint64{1, 10}},
		{"indirect", []uint64{2, 21}},
		{"viaref", []uint64{7}},
		{"nested", []uint64{300}},
	}
	for _, c := range cases {
		if x, y := call(t, a, c.name, c.args...), call(t, b, c.name, c.args...); x != y {
			t.Errorf("%s%v = %d after the rewrite, %d before", c.name, c.args, y, x)
		}
	}
	if !slices.Equal(plain.notes, counted.notes) || len(plain.notes) != 1 {
		t.Errorf("imported function called with %v after the rewrite, %v before", counted.notes, plain.notes)
	}
	if v := b.ExportedGlobal("started").Get(); v != 1 {
		t.Errorf("start function did not run after the rewrite: started = %d", v)
	}
	if plain.yields != 0 {
		t.Fatalf("original module yielded %d times", plain.yields)
	}
	// sum(100000) alone passes 100001 loop headers; fib(20) makes 21891
	// calls.
	if want := 100000/instrument.LoopStride/budget + 21891/budget; counted.yields < want {
		t.Errorf("rewritten module yielded %d times, want at least %d", counted.yields, want)
	}
}

// A loop that never ends reaches the host, which can stop it.
func TestStopsEndlessLoop(t *testing.T) {
	rewritten, err := instrument.Module(loopsWasm, 1000)
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, 1000)
	h.stopAt = 50
	mod := h.instantiate(t, rewritten)
	_, err = mod.ExportedFunction("spin").Call(context.Background())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(errStopped.Error())) {
		t.Fatalf("spin returned %v, want the host's %q", err, errStopped)
	}
	if h.yields != 50 {
		t.Errorf("yield called %d times, want 50", h.yields)
	}
}

// Every example guest, in Go, C and Rust, still compiles after the rewrite
// and keeps its imports and exports.
func TestExamples(t *testing.T) {
	modules := map[string][]byte{}
	dirs, err := os.ReadDir(filepath.Join(testwasm.Root(t), "wasm-examples"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(name, path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		modules[name] = b
	}
	for _, d := range dirs {
		dir := filepath.Join(testwasm.Root(t), "wasm-examples", d.Name())
		if _, err := os.Stat(filepath.Join(dir, "main.go")); err == nil {
			read("go/"+d.Name(), testwasm.Go(t, d.Name()))
		}
		if _, err := os.Stat(filepath.Join(dir, d.Name()+".c")); err == nil {
			read("c/"+d.Name(), testwasm.C(t, d.Name()))
		}
		if _, err := os.Stat(filepath.Join(dir, d.Name()+".rs")); err == nil {
			read("rust/"+d.Name(), testwasm.Rust(t, d.Name()))
		}
	}
	// The largest guest there is: its shape must be far within the
	// bounds the rewrite checks.
	read("starlark", filepath.Join(testwasm.Root(t), "internal", "starlarkwasm", "bin", "starlark.wasm"))
	if len(modules) < 20 {
		t.Fatalf("found only %d example modules", len(modules))
	}
	ctx := context.Background()
	// The interpreter validates a module as the compiler does, in a
	// fraction of the time; the agent's tests run the rewritten examples
	// compiled.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	for name, wasm := range modules {
		t.Run(name, func(t *testing.T) {
			out, err := instrument.Module(wasm, 10000)
			if err != nil {
				t.Fatal(err)
			}
			before, err := rt.CompileModule(ctx, wasm)
			if err != nil {
				t.Fatal(err)
			}
			defer before.Close(ctx)
			after, err := rt.CompileModule(ctx, out)
			if err != nil {
				t.Fatalf("rewritten module does not compile: %v", err)
			}
			defer after.Close(ctx)
			// No example changes a table, so each can be reset and reused.
			if got, want := signatures(after.ImportedFunctions()), append(signatures(before.ImportedFunctions()),
				fmt.Sprintf("%s.%s[] -> [i32]", instrument.ImportModule, instrument.ImportNameStatic)); !slices.Equal(got, want) {
				t.Errorf("imports after the rewrite:\n%v\nwant\n%v", got, want)
			}
			if got, want := exports(after), exports(before); !slices.Equal(got, want) {
				t.Errorf("exports after the rewrite:\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// TestStaticOnlyWithoutTableWrites checks the name of the added import: a
// module whose functions only read their tables is static, and one with
// any instruction that changes a table or drops a segment is not, whether
// or not it would ever run.
func TestStaticOnlyWithoutTableWrites(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatal("wat2wasm not found: install Debian's wabt package")
	}
	const prelude = `(table $t 2 funcref) (elem $e func $f) (memory 1) (data $d "x") (func $f)`
	static := map[string]bool{
		"(func (drop (table.get $t (i32.const 0))) (drop (table.size $t)) (call_indirect (i32.const 0)))": true,
		"(func (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1)))":                               true,
		"(func (table.set $t (i32.const 1) (ref.null func)))":                                             false,
		"(func (drop (table.grow $t (ref.null func) (i32.const 1))))":                                     false,
		"(func (table.fill $t (i32.const 0) (ref.null func) (i32.const 1)))":                              false,
		"(func (table.copy $t $t (i32.const 0) (i32.const 1) (i32.const 1)))":                             false,
		"(func (table.init $t $e (i32.const 0) (i32.const 0) (i32.const 1)))":                             false,
		"(func (elem.drop $e))": false,
		"(func (data.drop $d))": false,
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	dir := t.TempDir()
	for fn, want := range static {
		src := filepath.Join(dir, "m.wat")
		if err := os.WriteFile(src, []byte("(module "+prelude+" "+fn+")"), 0o600); err != nil {
			t.Fatal(err)
		}
		wasm, err := exec.Command(wat2wasm, "--output=-", src).Output()
		if err != nil {
			t.Fatalf("wat2wasm %s: %v", fn, err)
		}
		out, err := instrument.Module(wasm, 100)
		if err != nil {
			t.Fatal(err)
		}
		compiled, err := rt.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("%s: rewritten module does not compile: %v", fn, err)
		}
		imports := compiled.ImportedFunctions()
		_, name, _ := imports[len(imports)-1].Import()
		if got := name == instrument.ImportNameStatic; got != want {
			t.Errorf("%s: imports %s, static %v, want %v", fn, name, got, want)
		}
		compiled.Close(ctx)
	}
}

func signatures(fs []api.FunctionDefinition) []string {
	var out []string
	for _, f := range fs {
		mod, name, _ := f.Import()
		out = append(out, fmt.Sprintf("%s.%s%v -> %v", mod, name, typeNames(f.ParamTypes()), typeNames(f.ResultTypes())))
	}
	return out
}

func exports(m wazero.CompiledModule) []string {
	var out []string
	for name, f := range m.ExportedFunctions() {
		out = append(out, fmt.Sprintf("%s%v -> %v", name, typeNames(f.ParamTypes()), typeNames(f.ResultTypes())))
	}
	slices.Sort(out)
	return out
}

func typeNames(ts []api.ValueType) []string {
	out := []string{}
	for _, t := range ts {
		out = append(out, api.ValueTypeName(t))
	}
	return out
}

func TestRefusesReservedImport(t *testing.T) {
	once, err := instrument.Module(loopsWasm, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := instrument.Module(once, 10); err == nil {
		t.Fatal("a module importing from the reserved module was rewritten")
	}
}

// FuzzModule: whatever wazero compiles, the rewrite accepts, and its
// output compiles too; nothing panics on malformed input.
func FuzzModule(f *testing.F) {
	f.Add(loopsWasm)
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		ctx := context.Background()
		rt := wazero.NewRuntime(ctx)
		defer rt.Close(ctx)
		out, rewriteErr := instrument.Module(wasm, 100)
		orig, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			return
		}
		orig.Close(ctx)
		if rewriteErr != nil {
			t.Fatalf("wazero compiles the module, the rewrite fails: %v", rewriteErr)
		}
		if _, err := rt.CompileModule(ctx, out); err != nil {
			t.Fatalf("rewritten module does not compile: %v", err)
		}
	})
}
