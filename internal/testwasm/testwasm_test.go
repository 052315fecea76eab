package testwasm

import (
	"bytes"
	"os"
	"testing"
)

var wasmMagic = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

func TestGoCached(t *testing.T) {
	path := Go(t, "echo")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, wasmMagic) {
		t.Fatalf("%s starts with % x, want the wasm magic % x", path, b[:min(len(b), 8)], wasmMagic)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	before := builds.Load()
	again := Go(t, "echo")
	if again != path {
		t.Errorf("second call returned %s, first %s", again, path)
	}
	if n := builds.Load() - before; n != 0 {
		t.Errorf("second call ran %d builds, want 0", n)
	}
	info2, err := os.Stat(again)
	if err != nil {
		t.Fatal(err)
	}
	if !info2.ModTime().Equal(info.ModTime()) {
		t.Errorf("module rewritten: mtime %v, then %v", info.ModTime(), info2.ModTime())
	}
	if !bytes.Equal(Bytes(t, "echo"), b) {
		t.Error("Bytes differs from the file Go returned")
	}
}

func TestReactorBuilds(t *testing.T) {
	if !bytes.HasPrefix(Bytes(t, "reactor"), wasmMagic) {
		t.Fatal("reactor is not a wasm module")
	}
}

func TestKeyFollowsSources(t *testing.T) {
	// A different example has different sources, hence another file.
	if Go(t, "echo") == Go(t, "sleeper") {
		t.Fatal("echo and sleeper share a cache entry")
	}
}
