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
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wasmnet/wasmnet/internal/wordcount"
)

const chunk = 64 << 10

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wcfiles DIR")
		os.Exit(2)
	}
	files, err := filepath.Glob(filepath.Join(os.Args[1], "*"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "wcfiles:", err)
		os.Exit(1)
	}
	var data []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "wcfiles:", err)
			os.Exit(1)
		}
		data = append(data, b...)
	}
	for range 3 {
		start := time.Now()
		counts := wordcount.CountChunks(data, chunk)
		fmt.Printf("%d ms for %d bytes, %d words\n", time.Since(start).Milliseconds(), len(data), len(counts))
	}
}
