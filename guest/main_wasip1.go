//go:build wasip1

package guest

import _ "unsafe" // for go:linkname

// mainMain is the guest's main function.
//
//go:linkname mainMain main.main
func mainMain()

// runMain is the entry an agent calls in a guest built as a reactor
// (-buildmode=c-shared): the Go runtime and the package initialisers ran
// once in _initialize, which the agent can keep as an image and restore
// for every execution; this runs main. A guest built as a command
// (without -buildmode) starts at _start as before and never calls it.
//
//go:wasmexport wasmnet_main
func runMain() { mainMain() }
