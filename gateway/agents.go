package gateway

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// agentForPlatform returns the path of a wasmnet binary that runs on
// goos/goarch. For this machine's platform that is the running executable
// when it is wasmnet (not a test binary or another program embedding the
// gateway), else $WASMNET_AGENT, else wasmnet on PATH. Otherwise, and as a
// last resort for this platform, it is dist/wasmnet-<os>-<arch>[.exe] as
// built by `make agents`, looked for in the executable's directory, its
// dist/ and its parent's dist/, in $WASMNET_DIST, and in ./dist.
func agentForPlatform(goos, goarch string) (string, error) {
	exe, exeErr := os.Executable()
	if goos == runtime.GOOS && goarch == runtime.GOARCH {
		if p := localAgentBinary(exe, exeErr); p != "" {
			return p, nil
		}
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

// localAgentBinary returns a wasmnet binary for this machine, or "": the
// running executable exe when it is wasmnet, else $WASMNET_AGENT, else
// wasmnet on PATH.
func localAgentBinary(exe string, exeErr error) string {
	if exeErr == nil && isWasmnetExecutable(exe) {
		return exe
	}
	if p := os.Getenv("WASMNET_AGENT"); p != "" {
		return p
	}
	if p, err := exec.LookPath("wasmnet"); err == nil {
		return p
	}
	return ""
}

// isWasmnetExecutable says whether path looks like a wasmnet binary rather
// than a test binary (gateway.test) or another program using the package.
func isWasmnetExecutable(path string) bool {
	base := filepath.Base(path)
	return strings.HasPrefix(base, "wasmnet") && !strings.HasSuffix(base, ".test") && !strings.HasSuffix(base, ".test.exe")
}

// agentBinaries returns the agentBinary function ssh bootstraps use under
// cfg: WithAgentPath's binary for this machine's platform, else
// agentForPlatform.
func agentBinaries(cfg *makeConfig) agentBinaryFunc {
	if cfg.agentPath == "" {
		return agentForPlatform
	}
	return func(goos, goarch string) (string, error) {
		if goos == runtime.GOOS && goarch == runtime.GOARCH {
			if _, err := os.Stat(cfg.agentPath); err != nil {
				return "", fmt.Errorf("gateway: agent for %s/%s: %w", goos, goarch, err)
			}
			return cfg.agentPath, nil
		}
		return agentForPlatform(goos, goarch)
	}
}
