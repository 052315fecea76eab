// Package buildinfo says which build of wasmnet this program is.
package buildinfo

import "runtime/debug"

// ModuleVersion is the version of the wasmnet module this program was built
// from, as the Go toolchain recorded it, or "dev": what a client says in its
// hello and what an in-process agent reports.
func ModuleVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	for _, dep := range info.Deps {
		if dep.Path == "github.com/wasmnet/wasmnet" {
			return dep.Version
		}
	}
	if v := info.Main.Version; info.Main.Path == "github.com/wasmnet/wasmnet" && v != "" {
		return v
	}
	return "dev"
}
