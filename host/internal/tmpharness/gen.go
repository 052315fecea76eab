package main

import (
	"os"

	"github.com/wasmnet/wasmnet/internal/corpus"
)

func init() {
	if os.Getenv("GEN") != "" {
		f, _ := os.Create(os.Getenv("GEN"))
		corpus.Generate(f, 16<<20, 1)
		f.Close()
		os.Exit(0)
	}
}
