package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/internal/wire"
)

func cacheCall(t *testing.T, a *testAgent, req wire.CacheRequest) (wire.CacheReply, error) {
	t.Helper()
	body, _ := msgpack.Marshal(req)
	out, err := a.client.Call(context.Background(), wire.KindCache, body)
	var reply wire.CacheReply
	if err == nil {
		err = msgpack.Unmarshal(out, &reply)
	}
	return reply, err
}

// TestCacheRequestStaysInside: a prune of everything empties the agent's
// cache directory of files, and leaves what a symbolic link in it points
// to, and the files beside a cache directory that is not the default one.
func TestCacheRequestStaysInside(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "compile")
	outside := filepath.Join(t.TempDir(), "victim")
	beside := filepath.Join(parent, "agent-"+strings.Repeat("ab", 32))
	for _, p := range []string{outside, beside} {
		os.WriteFile(p, []byte("keep"), 0o600)
	}
	a := startAgent(t, NewConfig().WithCompilationCacheDir(dir))
	runToEnd(t, a, variant(0, 0))
	os.Symlink(outside, filepath.Join(dir, "link"))
	os.Symlink(filepath.Dir(outside), filepath.Join(dir, "linkdir"))

	reply, err := cacheCall(t, a, wire.CacheRequest{})
	if err != nil || len(reply.Kinds) != 4 || reply.Kinds[0].Entries == 0 || reply.Kinds[3].Dir != "" {
		t.Fatalf("list: %v, %+v", err, reply)
	}
	reply, err = cacheCall(t, a, wire.CacheRequest{Prune: true})
	if err != nil || reply.Kinds[0].RemovedCount == 0 || reply.Kinds[0].Entries != 0 {
		t.Fatalf("prune: %v, %+v", err, reply)
	}
	for _, p := range []string{outside, beside} {
		if b, err := os.ReadFile(p); err != nil || string(b) != "keep" {
			t.Errorf("%s: %q, %v: the prune reached outside the cache", p, b, err)
		}
	}
	// The agent compiles again into the emptied directory.
	runToEnd(t, a, variant(0, 1))

	refusing := startAgent(t, NewConfig().WithCompilationCacheDir(dir).WithoutCacheRequests())
	if _, err := cacheCall(t, refusing, wire.CacheRequest{Prune: true}); err == nil || !strings.Contains(err.Error(), "refuses cache requests") {
		t.Errorf("WithoutCacheRequests: got %v", err)
	}
}
