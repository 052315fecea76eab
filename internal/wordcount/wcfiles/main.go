// Command wcfiles counts the words of the files in a directory three times
// over, in 64 KiB chunks joined at word boundaries as the wordcount guest
// joins them, and prints each round's time. Built natively and for wasip1,
// it measures what a WebAssembly engine costs the same Go code, outside
// wasmnet's channels (BENCHMARKS.md, "Where a guest's time goes"):
//
//	go build -o /tmp/wcfiles ./internal/wordcount/wcfiles
//	GOOS=wasip1 GOARCH=wasm go build -o /tmp/wcfiles.wasm ./internal/wordcount/wcfiles
//	/tmp/wcfiles DIR
//	node --no-warnings internal/wordcount/wcfiles/wasi.mjs /tmp/wcfiles.wasm DIR
//	bin/wasmnet run --dir DIR:/c:ro --memory-limit 1GiB /tmp/wcfiles.wasm -- /c
//
// With "-" for DIR it counts standard input, for runtimes with no file
// system of their own (wasm2c/run.sh: the module compiled ahead of time
// by clang through wasm2c).
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/wasmnet/wasmnet/internal/wordcount"
)

const chunk = 64 << 10

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wcfiles DIR|-")
		os.Exit(2)
	}
	data, err := corpus(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "wcfiles:", err)
		os.Exit(1)
	}
	for range 3 {
		start := time.Now()
		counts := wordcount.CountChunks(data, chunk)
		fmt.Printf("%d ms for %d bytes, %d words\n", time.Since(start).Milliseconds(), len(data), len(counts))
	}
}

// corpus returns the files of dir joined in lexical order, or standard
// input for "-".
func corpus(dir string) ([]byte, error) {
	if dir == "-" {
		return io.ReadAll(os.Stdin)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, err
	}
	var data []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		data = append(data, b...)
	}
	return data, nil
}
