package host

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestHoldsSharedCode: a cache file is matched to a shared code file by
// its whole machine code, read in pieces, not into memory: a cache holds
// files of other wazero versions with the same function count, each as
// large as the code.
func TestHoldsSharedCode(t *testing.T) {
	dir := t.TempDir()
	code := make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range code {
		code[i] = byte(rng.Uint32())
	}
	const funcs = 3
	cacheFile := func(name, version string, funcs int, code []byte) string {
		b := append([]byte("WAZEVO"), byte(len(version)))
		b = append(b, version...)
		b = binary.LittleEndian.AppendUint32(b, uint32(funcs))
		for i := range funcs {
			b = binary.LittleEndian.AppendUint64(b, uint64(i*64))
		}
		b = binary.LittleEndian.AppendUint64(b, uint64(len(code)))
		b = append(b, code...)
		return writeFile(t, dir, name, b)
	}
	changed := append([]byte(nil), code...)
	changed[len(changed)-1] ^= 1
	same := writeFile(t, dir, "same.exec", append(append([]byte(nil), code...), 1, 2, 3, 4))
	other := writeFile(t, dir, "other.exec", changed)
	short := writeFile(t, dir, "short.exec", code[:len(code)-1])

	ours := cacheFile("ours", "v1.12.0", funcs, code)
	cases := []struct {
		name  string
		path  string
		funcs int
		execs []string
		want  bool
	}{
		{"the same code", ours, funcs, []string{other, same}, true},
		{"code that differs in its last byte", ours, funcs, []string{other}, false},
		{"a shared file one byte short", ours, funcs, []string{short}, false},
		{"another function count", ours, funcs + 1, []string{same}, false},
		{"another version's code", cacheFile("dev", "dev", funcs, changed), funcs, []string{same}, false},
		{"a declared length past the file", truncated(t, cacheFile("cut", "v", funcs, code), 100), funcs, []string{same}, false},
		{"not a cache file", same, funcs, []string{same}, false},
	}
	for _, c := range cases {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got := holdsSharedCode(c.path, c.funcs, c.execs)
		runtime.ReadMemStats(&after)
		if got != c.want {
			t.Errorf("%s: holdsSharedCode = %v, want %v", c.name, got, c.want)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > uint64(len(code))/8 {
			t.Errorf("%s: matching %d bytes of code allocated %d bytes", c.name, len(code), n)
		}
	}
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// truncated cuts n bytes off the end of the file at path.
func truncated(t *testing.T, path string, n int64) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-n); err != nil {
		t.Fatal(err)
	}
	return path
}
