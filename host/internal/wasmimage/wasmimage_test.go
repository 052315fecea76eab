package wasmimage

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/wasmnet/wasmnet/host/internal/wasmbin"
)

// module assembles a module from sections (id, body).
func module(sections ...[]byte) []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range sections {
		out = append(out, s[0])
		out = wasmbin.AppendU32(out, uint32(len(s)-1))
		out = append(out, s[1:]...)
	}
	return out
}

func sec(id byte, body ...byte) []byte { return append([]byte{id}, body...) }

var (
	typeSec   = sec(1, 1, 0x60, 0, 0) // one type: () -> ()
	funcSec   = sec(3, 1, 0)          // one function of type 0
	memSec    = sec(5, 1, 0, 1)       // one memory, min 1 page
	globalSec = sec(6, 2,
		0x7f, 1, 0x41, 5, 0x0b, // mutable i32 = 5
		0x7e, 0, 0x42, 7, 0x0b) // immutable i64 = 7
	exportSec = sec(7, 1, 11, '_', 'i', 'n', 'i', 't', 'i', 'a', 'l', 'i', 'z', 'e', 0, 0)
	codeSec   = sec(10, 1, 2, 0, 0x0b)
	dataSec   = sec(11, 2,
		0, 0x41, 16, 0x0b, 5, 'h', 'e', 'l', 'l', 'o',
		0, 0x41, 0xe4, 0, 0x0b, 1, 'x') // offset 100
)

func TestSplit(t *testing.T) {
	wasm := module(typeSec, funcSec, memSec, globalSec, exportSec, codeSec, dataSec)
	m, err := Split(wasm, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 101)
	copy(want[16:], "hello")
	want[100] = 'x'
	if !bytes.Equal(m.Data, want) {
		t.Fatalf("data image %q, want %q", m.Data, want)
	}
	if m.MinPages != 1 || !m.Reactor || m.Command {
		t.Fatalf("min pages %d, reactor %v, command %v", m.MinPages, m.Reactor, m.Command)
	}
	if len(m.Globals) != 1 || m.Globals[0] != GlobalPrefix+"0" {
		t.Fatalf("exported globals %v, want the mutable one only", m.Globals)
	}

	// The code is a valid module without the data, its global exported.
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.InstantiateWithConfig(ctx, m.Code, wazero.NewModuleConfig().WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	if g := mod.ExportedGlobal(m.Globals[0]); g == nil || g.Get() != 5 {
		t.Fatalf("exported global: %v", g)
	}
	if mod.ExportedFunction("_initialize") == nil {
		t.Fatal("the module's own export is gone")
	}
	mem, _ := mod.Memory().Read(0, mod.Memory().Size())
	if !bytes.Equal(mem, make([]byte, len(mem))) {
		t.Fatal("the code still applies data segments")
	}
}

func TestSplitGlobalIndexAfterImports(t *testing.T) {
	imports := sec(2, 1, 3, 'e', 'n', 'v', 1, 'g', 3, 0x7f, 0) // global env.g: i32 const
	m, err := Split(module(typeSec, imports, funcSec, memSec, globalSec, codeSec), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Globals) != 1 || m.Globals[0] != GlobalPrefix+"1" {
		t.Fatalf("exported globals %v, want index 1 (after the imported one)", m.Globals)
	}
	if m.Reactor || m.Command {
		t.Fatal("a module without _start or _initialize is neither command nor reactor")
	}
}

func TestSplitRefuses(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
	}{
		{"data count (bulk memory)", module(typeSec, funcSec, memSec, sec(12, 1), codeSec, sec(11, 1, 0, 0x41, 0, 0x0b, 1, 'a'))},
		{"passive segment", module(typeSec, funcSec, memSec, codeSec, sec(11, 1, 1, 1, 'a'))},
		{"segment past the memory", module(typeSec, funcSec, memSec, codeSec, sec(11, 1, 0, 0x41, 0x80, 0x80, 0x04, 0x0b, 1, 'a'))},
		{"offset from a global", module(typeSec, funcSec, memSec, globalSec, codeSec, sec(11, 1, 0, 0x23, 0, 0x0b, 1, 'a'))},
		{"imported memory", module(typeSec, sec(2, 1, 3, 'e', 'n', 'v', 1, 'm', 2, 0, 1), funcSec, codeSec)},
		{"no memory", module(typeSec, funcSec, codeSec)},
		{"already exports the prefix", module(typeSec, funcSec, memSec, globalSec,
			sec(7, append(append([]byte{1, byte(len(GlobalPrefix) + 1)}, GlobalPrefix+"0"...), 3, 0)...), codeSec)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Split(tt.wasm, 1<<20); !errors.Is(err, ErrUnsupported) {
				t.Fatalf("got %v, want ErrUnsupported", err)
			}
		})
	}
	if _, err := Split(module(typeSec, funcSec, sec(5, 1, 0, 0x80, 0x80, 0x04), codeSec), 1<<20); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("an initial memory over the bound: got %v, want ErrUnsupported", err)
	}
}

// TestSplitTruncated feeds every prefix of a module: an error, never a
// panic or a result.
func TestSplitTruncated(t *testing.T) {
	wasm := module(typeSec, funcSec, memSec, globalSec, exportSec, codeSec, dataSec)
	for n := range len(wasm) {
		if m, err := Split(wasm[:n], 1<<20); err == nil && n < 8 {
			t.Fatalf("%d bytes: split into %v", n, m)
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add(module(typeSec, funcSec, memSec, globalSec, exportSec, codeSec, dataSec))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		m, err := Split(wasm, 1<<24)
		if err != nil {
			return
		}
		if uint64(len(m.Data)) > uint64(m.MinPages)*pageSize {
			t.Fatalf("data image of %d bytes for %d pages", len(m.Data), m.MinPages)
		}
	})
}
