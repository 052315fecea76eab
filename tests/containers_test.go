package tests

// Containers through exec=: `kubectl exec -i POD -- wasmnet agent` and
// `docker exec -i CONTAINER wasmnet agent` put a process between the client
// and the agent and print notices on stderr before the agent speaks. A
// stand-in script behaves like them, so the test needs neither.

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// standins are shell scripts that act as kubectl exec -i and docker exec
// -i do: notices on stderr, then the command run as a child (not exec'd),
// with stdio passed through. The container's name selects nothing.
var standins = map[string]string{
	"kubectl": `#!/bin/sh
# kubectl exec -i POD -- CMD...
echo 'Defaulted container "app" out of: app, istio-proxy, istio-init (init)' >&2
echo 'Unable to use a TTY - input is not a terminal or the right kind of file' >&2
while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done; shift
"$@"
`,
	"docker": `#!/bin/sh
# docker exec -i CONTAINER CMD...
echo 'WARNING: Error loading config file: /root/.docker/config.json: permission denied' >&2
shift 3
"$@"
`,
}

func TestContainersThroughExec(t *testing.T) {
	warm(t)
	dir := t.TempDir()
	// The agent is linked under this test's directory so that its
	// processes can be found by their command line.
	agent := filepath.Join(dir, "bin", "wasmnet")
	os.MkdirAll(filepath.Dir(agent), 0o755)
	if err := os.Symlink(agentBin(t), agent); err != nil {
		t.Fatal(err)
	}
	for name, script := range standins {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	specs := map[string]string{
		"kubectl": "exec=" + filepath.Join(dir, "kubectl") + " exec -i worker-0 -- " + agent + " agent",
		"docker":  "exec=" + filepath.Join(dir, "docker") + " exec -i build-1 " + agent + " agent",
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			g := makeGateway(t, spec)
			if len(procsMatching(agent+" agent")) < 2 {
				t.Errorf("want the stand-in and the agent as two processes: %v", procsMatching(agent))
			}
			checkWordcount(t, g)
			exitGateway(t, g)
			waitNoProcs(t, agent, 10*time.Second)
		})
	}
}
