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
		// An error can carry a guest's or a peer's text.
		fmt.Fprintln(os.Stderr, "wasmnet:", escapeControls(err.Error()))
		os.Exit(exitStatus(err))
	}
}
