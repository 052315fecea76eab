package starlarkwasm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"
)

func hexSum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestRecordedSumIsTheBytes: the sum make starlark records is the embedded
// interpreter's.
func TestRecordedSumIsTheBytes(t *testing.T) {
	b, err := Bytes()
	if err != nil {
		t.Fatalf("%v (run make starlark)", err)
	}
	sum, size, ok := RecordedSum()
	if !ok {
		t.Fatal("no record of the embedded interpreter's sum beside it: run make starlark")
	}
	if sum != hexSum(b) || size != len(b) {
		t.Fatalf("recorded %.12s, %d bytes; the interpreter is %.12s, %d bytes", sum, size, hexSum(b), len(b))
	}
}

// TestRecordOfOtherBytesIgnored: a record of another interpreter, one of
// another size or head (a rebuilt one's build ID), or a malformed one,
// is not used.
func TestRecordOfOtherBytesIgnored(t *testing.T) {
	wasm := bytes.Repeat([]byte("\x00asm\x01\x00\x00\x00go:buildid"), 1000)
	other := bytes.Clone(wasm)
	other[20] ^= 1
	short := wasm[:100]
	record := func(b []byte) string {
		return fmt.Sprintf("%s %d %s\n", hexSum(b), len(b), hexSum(b[:min(len(b), headSize)]))
	}
	tests := []struct {
		name   string
		record string
		file   []byte
		ok     bool
	}{
		{"its own", record(wasm), wasm, true},
		{"a short file", record(short), short, true},
		{"another head", record(other), wasm, false},
		{"another size", record(wasm), wasm[:len(wasm)-1], false},
		{"two fields", fmt.Sprintf("%s %d", hexSum(wasm), len(wasm)), wasm, false},
		{"not hex", "zz" + record(wasm)[2:], wasm, false},
		{"empty", "", wasm, false},
	}
	for _, tt := range tests {
		fsys := fstest.MapFS{"f": {Data: tt.file}}
		fi, err := fs.Stat(fsys, "f")
		if err != nil {
			t.Fatal(err)
		}
		sum, size, ok := matchRecord(tt.record, fi, tt.file[:min(len(tt.file), headSize)])
		if ok != tt.ok || ok && (sum != hexSum(tt.file) || size != len(tt.file)) {
			t.Errorf("%s: got %.12s, %d, %v; want ok %v", tt.name, sum, size, ok, tt.ok)
		}
	}
}
