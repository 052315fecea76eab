package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// cacheKinds are the kinds of a cache reply, in its order.
var cacheKinds = []string{"compiled", "modules", "prepared", "agents"}

// agentName is the name the ssh bootstrap gives an uploaded agent binary.
var agentName = regexp.MustCompile(`^agent-[0-9a-f]{64}$`)

// cacheRequest answers a KindCache request: what the agent's cache
// directory holds, by kind, after removing what the request prunes. The
// request names no path; the walk does not follow symbolic links, and
// removes regular files only, so nothing outside the directory is read or
// removed. Compilations wait while it prunes (compileMu), so that no file
// goes while wazero writes or indexes it.
func (a *agent) cacheRequest(body []byte) ([]byte, error) {
	if !a.cfg.allowCacheRequests {
		return nil, errors.New("cache: this agent refuses cache requests" + refusedCache)
	}
	var req wire.CacheRequest
	if err := channel.UnmarshalInto(body, &req); err != nil {
		return nil, fmt.Errorf("cache: malformed request: %w", err)
	}
	if req.OlderThanNanos < 0 {
		return nil, errors.New("cache: a negative age")
	}
	dir := a.store.cacheDir
	kinds := map[string]*wire.CacheKind{}
	var reply wire.CacheReply
	for _, k := range cacheKinds {
		reply.Kinds = append(reply.Kinds, wire.CacheKind{Kind: k})
	}
	for i := range reply.Kinds {
		kinds[reply.Kinds[i].Kind] = &reply.Kinds[i]
	}
	if dir == "" {
		return msgpack.Marshal(reply)
	}
	cutoff := time.Now().Add(-time.Duration(req.OlderThanNanos))
	visit := func(kind, path string, fi fs.FileInfo) {
		k := kinds[kind]
		if req.Prune && (req.OlderThanNanos == 0 || fi.ModTime().Before(cutoff)) {
			if err := os.Remove(path); err == nil || errors.Is(err, fs.ErrNotExist) {
				k.RemovedCount++
				k.RemovedBytes += fi.Size()
				return
			} else if k.RemoveFailure == "" {
				k.RemoveFailure = err.Error()
			}
		}
		k.Entries++
		k.Bytes += fi.Size()
		t := fi.ModTime().UnixNano()
		if k.OldestNanos == 0 || t < k.OldestNanos {
			k.OldestNanos = t
		}
		k.NewestNanos = max(k.NewestNanos, t)
	}
	if req.Prune {
		a.store.compileMu.Lock()
		defer a.store.compileMu.Unlock()
	}
	for _, k := range cacheKinds[:3] {
		kinds[k].Dir = dir
	}
	walkCache(dir, visit)
	if agents, ok := a.agentsDir(dir); ok {
		kinds["agents"].Dir = agents
		walkAgents(agents, visit)
	}
	return msgpack.Marshal(reply)
}

// walkCache calls visit for every regular file under dir, with its kind:
// the first element of its path names modules and prepared ones; the rest
// is compiled code and its index.
func walkCache(dir string, visit func(kind, path string, fi fs.FileInfo)) {
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil // a symbolic link is neither followed nor removed
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		kind := "compiled"
		switch first, _, _ := strings.Cut(filepath.ToSlash(rel), "/"); first {
		case modulesDir:
			kind = "modules"
		case preparedDir:
			kind = "prepared"
		}
		visit(kind, p, fi)
		return nil
	})
}

// walkAgents calls visit for every uploaded agent binary in dir.
func walkAgents(dir string, visit func(kind, path string, fi fs.FileInfo)) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !agentName.MatchString(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			visit("agents", filepath.Join(dir, e.Name()), fi)
		}
	}
}

// agentsDir is where the ssh bootstrap keeps uploaded agents
// (~/.cache/wasmnet), when the compile cache is its default one inside
// it; an agent given a cache directory of its own leaves the agents alone.
func (a *agent) agentsDir(compileDir string) (string, bool) {
	home, err := os.UserCacheDir()
	if err != nil {
		return "", false
	}
	agents := filepath.Join(home, "wasmnet")
	if filepath.Clean(compileDir) != filepath.Join(agents, "compile") {
		return "", false
	}
	return agents, true
}
