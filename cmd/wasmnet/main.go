// Command wasmnet runs WebAssembly modules across many sandboxed agents,
// local and remote, and is itself the agent (`wasmnet agent`).
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		var code exitCode
		if asExitCode(err, &code) {
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "wasmnet:", err)
		os.Exit(1)
	}
}
