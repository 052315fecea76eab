package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// wasmnetCache runs wasmnet with its user cache directory (and so its
// agents') in cacheHome, never the user's own.
func wasmnetCache(t *testing.T, cacheHome string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testwasm.Agent(t), args...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+cacheHome, "WASMNET_AGENT="+testwasm.Agent(t))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("wasmnet %q: still running after a minute\n%s", args, stderr.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// cacheKinds parses cache --json into kind -> entries, checking each row.
func cacheKinds(t *testing.T, out string) map[string]cacheJSON {
	t.Helper()
	kinds := map[string]cacheJSON{}
	for line := range strings.Lines(out) {
		var row cacheJSON
		if err := json.Unmarshal([]byte(line), &row); err != nil || row.Error != "" {
			t.Fatalf("line %q: %v %s", line, err, row.Error)
		}
		kinds[row.Kind] = row
	}
	return kinds
}

// TestCacheListAndPrune: after a run the local cache lists compiled code
// and modules and an uploaded agent; a prune by age removes only what is
// old; --all removes the rest, and neither follows a symbolic link out of
// the cache nor touches a file that is not the cache's.
func TestCacheListAndPrune(t *testing.T) {
	home := t.TempDir()
	if _, stderr, code := wasmnetCache(t, home, "run", "-g", "popen", "--take", "1", "--send", "[1, 100]", testwasm.Go(t, "primes")); code != 0 {
		t.Fatalf("run: exit status %d\n%s", code, stderr)
	}
	base := filepath.Join(home, "wasmnet")
	agent := filepath.Join(base, "agent-"+strings.Repeat("ab", 32))
	other := filepath.Join(base, "notes.txt") // not the cache's
	outside := filepath.Join(t.TempDir(), "victim")
	for _, p := range []string{agent, other, outside} {
		if err := os.WriteFile(p, []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(base, "compile", "link")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(agent, old, old)

	out, stderr, code := wasmnetCache(t, home, "cache", "list", "--json")
	kinds := cacheKinds(t, out)
	if code != 0 || kinds["compiled"].Entries == 0 || kinds["modules"].Entries == 0 || kinds["agents"].Entries != 1 {
		t.Fatalf("list: exit status %d, %+v\n%s", code, kinds, stderr)
	}

	out, stderr, code = wasmnetCache(t, home, "cache", "prune", "--older-than", "24h", "--json")
	kinds = cacheKinds(t, out)
	if code != 0 || kinds["agents"].Removed != 1 || kinds["compiled"].Removed != 0 || kinds["modules"].Removed != 0 {
		t.Fatalf("prune --older-than 24h: exit status %d, %+v\n%s", code, kinds, stderr)
	}
	if _, err := os.Stat(agent); err == nil {
		t.Errorf("the old agent is still there")
	}

	out, stderr, code = wasmnetCache(t, home, "cache", "prune", "--all", "--json")
	kinds = cacheKinds(t, out)
	if code != 0 || kinds["compiled"].Entries != 0 || kinds["modules"].Entries != 0 || kinds["compiled"].Removed == 0 {
		t.Fatalf("prune --all: exit status %d, %+v\n%s", code, kinds, stderr)
	}
	for _, p := range []string{other, outside} {
		if b, err := os.ReadFile(p); err != nil || string(b) != "keep" {
			t.Errorf("%s: %q, %v: a prune touched what is not the cache's", p, b, err)
		}
	}
	if _, stderr, code := wasmnetCache(t, home, "cache", "prune"); code != exitUsage {
		t.Errorf("prune without --older-than or --all: exit status %d\n%s", code, stderr)
	}
}

// TestCacheRefused: an agent told --no-cache-requests refuses, and says
// which flags decide it.
func TestCacheRefused(t *testing.T) {
	home := t.TempDir()
	_, stderr, code := wasmnetCache(t, home, "cache", "prune", "--all", "-g", "exec="+testwasm.Agent(t)+" agent --no-cache-requests")
	if code != exitFailure || !strings.Contains(stderr, "refuses cache requests") || !strings.Contains(stderr, "--allow-cache-requests") {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
}
