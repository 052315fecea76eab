package wasmimage_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmnet/wasmnet/abi"
	"github.com/wasmnet/wasmnet/host/internal/instrument"
	"github.com/wasmnet/wasmnet/host/internal/wasmimage"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestSplitThenInstrument checks that a split Go reactor, then rewritten
// by the instrument package as an agent does before compiling, still
// initialises, and that the globals Split exported are what its
// _initialize changed: the Go runtime's stack pointer among them.
func TestSplitThenInstrument(t *testing.T) {
	wasm, err := os.ReadFile(testwasm.GoReactor(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	split, err := wasmimage.Split(wasm, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if !split.Reactor || len(split.Globals) == 0 {
		t.Fatalf("reactor %v, %d mutable globals", split.Reactor, len(split.Globals))
	}
	code, err := instrument.Module(split.Code, 10000)
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	// Compiling a Go module takes seconds; later runs load it.
	cfg := wazero.NewRuntimeConfig()
	if dir, err := os.UserCacheDir(); err == nil {
		if cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(dir, "wasmnet-testwasm", "wazero")); err == nil {
			cfg = cfg.WithCompilationCache(cache)
		}
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	yield := func(_ context.Context, _ api.Module, s []uint64) { s[0] = 10000 }
	if _, err := rt.NewHostModuleBuilder(instrument.ImportModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(yield), nil, []api.ValueType{api.ValueTypeI32}).
		Export(instrument.ImportName).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(yield), nil, []api.ValueType{api.ValueTypeI32}).
		Export(instrument.ImportNameStatic).Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	b := rt.NewHostModuleBuilder(abi.ModuleName)
	for _, f := range abi.Functions() {
		params := make([]api.ValueType, len(f.Params))
		for i, p := range f.Params {
			params[i] = api.ValueType(p)
		}
		results := make([]api.ValueType, len(f.Results))
		for i, r := range f.Results {
			results[i] = api.ValueType(r)
		}
		stub := func(_ context.Context, _ api.Module, s []uint64) {
			if len(s) > 0 {
				unavailable := int32(abi.ErrUnavailable)
				s[0] = uint64(uint32(unavailable))
			}
		}
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(stub), params, results).Export(f.Name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	// The data is not applied: the instance starts from zeros, and so
	// the agent writes the image in; here it is copied.
	if !mod.Memory().Write(0, split.Data) {
		t.Fatal("data image larger than the initial memory")
	}
	before := make([]uint64, len(split.Globals))
	for i, name := range split.Globals {
		g := mod.ExportedGlobal(name)
		if g == nil {
			t.Fatalf("global %s not exported after instrumenting", name)
		}
		before[i] = g.Get()
	}
	if _, err := mod.ExportedFunction("_initialize").Call(ctx); err != nil {
		t.Fatalf("_initialize: %v", err)
	}
	changed := 0
	for i, name := range split.Globals {
		if mod.ExportedGlobal(name).Get() != before[i] {
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("_initialize changed none of the exported globals; restoring them would restore nothing")
	}
}
