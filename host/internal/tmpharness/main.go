package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/abi"
	"github.com/wasmnet/wasmnet/host/internal/instrument"
)

func run(wasm []byte, input [][]byte, ctxchecks bool) time.Duration {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(ctxchecks))
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	i := 0
	impl := map[string]api.GoModuleFunc{
		abi.FuncABIVersion: func(_ context.Context, _ api.Module, s []uint64) { s[0] = abi.Version },
		abi.FuncMarker:     func(_ context.Context, _ api.Module, s []uint64) { s[0] = abi.Version },
		abi.FuncMain:       func(_ context.Context, _ api.Module, s []uint64) { s[0] = 1 },
		abi.FuncNew:        func(_ context.Context, _ api.Module, s []uint64) { s[0] = 2 },
		abi.FuncSend:       func(_ context.Context, _ api.Module, s []uint64) { s[0] = 0 },
		abi.FuncReceive: func(_ context.Context, m api.Module, s []uint64) {
			if i >= len(input) {
				s[0] = res(abi.ErrClosed)
				return
			}
			m.Memory().WriteUint32Le(uint32(s[4]), uint32(len(input[i])))
			if uint32(len(input[i])) > uint32(s[2]) {
				s[0] = res(abi.ErrTooLarge)
				return
			}
			m.Memory().Write(uint32(s[1]), input[i])
			i++
			s[0] = 0
		},
		abi.FuncClose:      func(_ context.Context, _ api.Module, s []uint64) { s[0] = 0 },
		abi.FuncCloseError: func(_ context.Context, _ api.Module, s []uint64) { s[0] = 0 },
	}
	b := rt.NewHostModuleBuilder(abi.ModuleName)
	for _, f := range abi.Functions() {
		var ps, rs []api.ValueType
		for _, p := range f.Params {
			ps = append(ps, api.ValueType(p))
		}
		for _, p := range f.Results {
			rs = append(rs, api.ValueType(p))
		}
		b.NewFunctionBuilder().WithGoModuleFunction(impl[f.Name], ps, rs).Export(f.Name)
	}
	b.Instantiate(ctx)
	yields := 0
	rt.NewHostModuleBuilder(instrument.ImportModule).NewFunctionBuilder().WithFunc(func() int32 { yields++; return 4096 }).Export(instrument.ImportName).Instantiate(ctx)
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		panic(err)
	}
	start := time.Now()
	_, err = rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithStartFunctions("_start"))
	d := time.Since(start)
	if err != nil && err.Error() != "module closed with exit_code(0)" {
		fmt.Println("err", err)
	}
	if yields > 0 {
		fmt.Fprintln(os.Stderr, "yields", yields)
	}
	return d
}

func main() {
	var input [][]byte
	if len(os.Args) > 2 {
		text, _ := os.ReadFile(os.Args[2])
		for len(text) > 0 {
			n := min(len(text), 1<<20)
			b, _ := msgpack.Marshal(text[:n])
			input = append(input, b)
			text = text[n:]
		}
		b, _ := msgpack.Marshal(nil)
		input = append(input, b)
	} else {
		b, _ := msgpack.Marshal([]any{0, 1500000})
		input = [][]byte{b}
	}
	wasm, _ := os.ReadFile(os.Args[1])
	inst, err := instrument.Module(wasm, 4096)
	if err != nil {
		panic(err)
	}
	best := [3]time.Duration{1 << 62, 1 << 62, 1 << 62}
	for range 5 {
		best[0] = min(best[0], run(wasm, input, false))
		best[1] = min(best[1], run(inst, input, false))
		best[2] = min(best[2], run(wasm, input, true))
	}
	fmt.Printf("unchecked %v instrumented %v (%.2fx) ctx %v (%.2fx)\n", best[0], best[1], float64(best[1])/float64(best[0]), best[2], float64(best[2])/float64(best[0]))
}

func res(r abi.Result) uint64 { v := int32(r); return uint64(uint32(v)) }
