// Command standin stands in for `wasmnet agent` in transport tests until the
// real agent exists: run as "standin agent", it copies stdin to stdout. With
// STANDIN_SAY set it first writes "cwd=<working dir> say=<STANDIN_SAY>\n";
// with STANDIN_FAIL set it writes that to stderr and exits 3.
package main

import (
	"fmt"
	"io"
	"os"
)

// nonce is set with -ldflags -X so that each test run's build has its own
// sha256, hence its own remote cache entry.
var nonce string

func main() {
	if len(os.Args) < 2 || os.Args[1] != "agent" {
		fmt.Fprintf(os.Stderr, "standin %s: usage: standin agent\n", nonce)
		os.Exit(2)
	}
	if msg := os.Getenv("STANDIN_FAIL"); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(3)
	}
	if say := os.Getenv("STANDIN_SAY"); say != "" {
		wd, _ := os.Getwd()
		fmt.Printf("cwd=%s say=%s\n", wd, say)
	}
	io.Copy(os.Stdout, os.Stdin)
}
