package host

import (
	"context"
	"encoding/binary"
	"io"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/internal/wire"
)

// variant returns a module that exports _start and memory, with a custom
// section of pad bytes that makes variant n differ from every other: the
// attack of issue 11, which fills a store with copies of one module.
func variant(n int, pad int) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00) // type: () -> ()
	b = append(b, 0x03, 0x02, 0x01, 0x00)             // function 0 of type 0
	b = append(b, 0x05, 0x03, 0x01, 0x00, 0x01)       // memory: min 1 page
	b = append(b, 0x07, 0x13, 0x02, 0x06)             // exports
	b = append(b, "_start"...)
	b = append(b, 0x00, 0x00, 0x06)
	b = append(b, "memory"...)
	b = append(b, 0x02, 0x00)
	b = append(b, 0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b) // code: empty body
	payload := append([]byte{7}, "variant"...)
	payload = binary.LittleEndian.AppendUint64(payload, uint64(n))
	payload = append(payload, make([]byte, pad)...)
	b = append(b, 0x00)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...)
}

func status(t *testing.T, a *testAgent) wire.Status {
	t.Helper()
	out, err := a.client.Call(context.Background(), wire.KindStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	var st wire.Status
	if err := msgpack.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == indexDir {
			return filepath.SkipDir // a few bytes per module, pruned with the files
		}
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func runToEnd(t *testing.T, a *testAgent, wasm []byte) {
	t.Helper()
	ch := a.exec(t, wasm, wire.ExecRequest{})
	if _, err := ch.Receive(context.Background()); err != io.EOF {
		t.Fatalf("module ended with %v, want EOF", err)
	}
}

// TestStoresStayWithinBounds: twenty variants of one module keep the
// agent's memory store and the disk cache within their bounds, least
// recently used out first.
func TestStoresStayWithinBounds(t *testing.T) {
	const pad = 1 << 20
	weight := int64(256 + len(variant(0, pad))*(1+compiledFactor))

	// The size of one compiled module in the cache, to bound it by.
	probe := t.TempDir()
	runToEnd(t, startAgent(t, NewConfig().WithCompilationCacheDir(probe)), variant(-1, pad))
	file := dirBytes(t, probe)
	if file == 0 {
		t.Fatal("compiling wrote nothing to the cache")
	}

	cache := t.TempDir()
	storeLimit, cacheLimit := 2*weight+weight/2, 2*file+file/2
	cfg := NewConfig().WithCompilationCacheDir(cache).WithModuleStoreLimit(storeLimit).WithCompilationCacheLimit(cacheLimit)
	a := startAgent(t, cfg)
	const variants = 20
	for i := range variants {
		runToEnd(t, a, variant(i, pad))
		runToEnd(t, a, variant(0, pad)) // used all along: never dropped
		st := status(t, a)
		if held := int64(st.ModulesCached) * weight; held > storeLimit {
			t.Fatalf("after %d variants the store holds %d modules (%d bytes), over its bound of %d", i+1, st.ModulesCached, held, storeLimit)
		}
		if got := dirBytes(t, cache); got > cacheLimit {
			t.Fatalf("after %d variants the disk cache holds %d bytes, over its bound of %d", i+1, got, cacheLimit)
		}
	}
	st := status(t, a)
	if st.ModuleUploads != variants {
		t.Errorf("%d uploads for %d variants: the one in constant use was dropped", st.ModuleUploads, variants)
	}
	// A dropped module runs again after a new upload.
	runToEnd(t, a, variant(1, pad))
	if got := status(t, a).ModuleUploads; got != variants+1 {
		t.Errorf("running a dropped module: %d uploads, want %d", got, variants+1)
	}

	// The newest compiled code stayed on disk: a new agent loads it.
	b := startAgent(t, cfg)
	runToEnd(t, b, variant(variants-1, pad))
	if st := status(t, b); st.CacheLoads != 1 || st.Compilations != 0 {
		t.Errorf("newest variant: %d cache loads and %d compilations, want it from the cache", st.CacheLoads, st.Compilations)
	}
}
