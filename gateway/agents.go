package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// agentForPlatform returns the path of a wasmnet binary that runs on
// goos/goarch: the running executable when it matches, else
// dist/wasmnet-<os>-<arch>[.exe] as built by `make agents`, looked for in the
// executable's directory, its dist/ and its parent's dist/, in
// $WASMNET_DIST, and in ./dist.
func agentForPlatform(goos, goarch string) (string, error) {
	exe, exeErr := os.Executable()
	if goos == runtime.GOOS && goarch == runtime.GOARCH {
		if exeErr != nil {
			return "", fmt.Errorf("gateway: agent for %s/%s: %w", goos, goarch, exeErr)
		}
		return exe, nil
	}
	name := "wasmnet-" + goos + "-" + goarch
	if goos == "windows" {
		name += ".exe"
	}
	var dirs []string
	if exeErr == nil {
		d := filepath.Dir(exe)
		dirs = append(dirs, d, filepath.Join(d, "dist"), filepath.Join(d, "..", "dist"))
	}
	if d := os.Getenv("WASMNET_DIST"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, "dist")
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return filepath.Abs(p)
		}
	}
	return "", fmt.Errorf("gateway: no agent binary for %s/%s: %s not found next to %s, in $WASMNET_DIST or in ./dist; run make agents", goos, goarch, name, exe)
}
