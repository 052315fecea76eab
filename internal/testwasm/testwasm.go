// Package testwasm gives tests built example guests. Every test in the
// repository that needs a guest calls Go (or, from polyglot.go, C or Rust)
// with the name of a folder of wasm-examples/ and gets the path of a .wasm
// built from the current sources.
//
// Builds are cached in os.UserCacheDir()/wasmnet-testwasm/, keyed by a hash
// of everything the build reads, so repeated test runs do not rebuild. A
// missing toolchain fails the test with a message naming the tool.
//
// # Adding a language
//
// polyglot.go (C and Rust) uses the same machinery: hash the sources with
// hashSources, add the tool's version, and hand a command that writes the
// module to buildCached.
package testwasm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// modulePath identifies the repository's go.mod when Root walks up.
const modulePath = "github.com/wasmnet/wasmnet"

// buildMu serialises builds in one test binary: two tests asking for the
// same guest build it once, and the 2-core CI is not oversubscribed.
var buildMu sync.Mutex

// builds counts the builds this process ran, for the package's own test.
var builds atomic.Int64

// Go returns the path of wasm-examples/<name> built with the go tool on PATH
// for GOOS=wasip1 GOARCH=wasm, with -trimpath. The reactor example is built
// with -buildmode=c-shared.
func Go(t testing.TB, name string) string {
	t.Helper()
	return goBuild(t, name, name == "reactor")
}

// GoReactor is Go with -buildmode=c-shared for any example: a reactor
// whose main the Go SDK's wasmnet_main export runs.
func GoReactor(t testing.TB, name string) string {
	t.Helper()
	return goBuild(t, name, true)
}

func goBuild(t testing.TB, name string, reactor bool) string {
	t.Helper()
	root := Root(t)
	dir := filepath.Join("wasm-examples", name)
	if _, err := os.Stat(filepath.Join(root, dir, "main.go")); err != nil {
		t.Fatalf("testwasm: no Go example %q: %v", name, err)
	}
	goTool := requireTool(t, "go", "to build Go guests")

	args := []string{"build", "-trimpath"}
	key := "go-" + name
	if reactor {
		args = append(args, "-buildmode=c-shared")
		key = "go-reactor-" + name
	}

	h := sha256.New()
	fmt.Fprintf(h, "go\x00%s\x00%s\x00%q\x00", goVersion(t, goTool), os.Getenv("GOFLAGS"), args)
	isGo := func(p string) bool { return strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") }
	if err := hashSources(h, root, []string{"go.mod", "go.sum", "abi", "guest", "internal", dir}, isGo); err != nil {
		t.Fatalf("testwasm: hashing the sources of %s: %v", name, err)
	}

	return buildCached(t, key, h.Sum(nil), func(out string) *exec.Cmd {
		cmd := exec.Command(goTool, append(args, "-o", out, "./"+filepath.ToSlash(dir))...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		return cmd
	})
}

// Bytes returns the contents of Go(t, name).
func Bytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(Go(t, name))
	if err != nil {
		t.Fatalf("testwasm: %v", err)
	}
	return b
}

// Root returns the repository root: the nearest directory at or above the
// working directory whose go.mod declares the wasmnet module.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testwasm: %v", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testwasm: no go.mod of %s at or above the working directory", modulePath)
		}
		dir = parent
	}
}

// requireTool returns the path of tool on PATH, or fails t naming it.
func requireTool(t testing.TB, tool, why string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("testwasm: %s is needed %s but is not on PATH: %v", tool, why, err)
	}
	return p
}

var goVersions sync.Map // tool path -> `go env GOVERSION` output

// goVersion returns the version of the go tool, which is part of every key:
// a new toolchain builds a different module.
func goVersion(t testing.TB, goTool string) string {
	t.Helper()
	if v, ok := goVersions.Load(goTool); ok {
		return v.(string)
	}
	out, err := exec.Command(goTool, "env", "GOVERSION").Output()
	if err != nil {
		t.Fatalf("testwasm: %s env GOVERSION: %v", goTool, err)
	}
	v := strings.TrimSpace(string(out))
	goVersions.Store(goTool, v)
	return v
}

// hashSources writes into h the slash path and contents of every regular
// file under paths (files or directories, relative to root) whose path
// passes keep, in lexical order. Files named directly are always kept. A
// path that does not exist is hashed as absent.
func hashSources(h hash.Hash, root string, paths []string, keep func(path string) bool) error {
	for _, p := range paths {
		err := filepath.WalkDir(filepath.Join(root, p), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			if d.IsDir() || !d.Type().IsRegular() || rel != p && !keep(rel) {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(b))
			h.Write(b)
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(h, "%s\x00absent\x00", filepath.ToSlash(p))
		} else if err != nil {
			return err
		}
	}
	return nil
}

// cacheDir returns the directory of built modules, creating it.
func cacheDir(t testing.TB) string {
	t.Helper()
	base, err := startCacheDir, startCacheErr
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "wasmnet-testwasm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testwasm: %v", err)
	}
	return dir
}

// Tests point HOME at temporary directories (ssh client configuration, a
// fresh agent cache). Builds must not follow it: they would miss the cache
// of built guests and the go tool's own module and build caches, and
// download and compile everything again. So the cache directory and the go
// tool's environment are those of the process's start.
var (
	startCacheDir, startCacheErr = os.UserCacheDir()
	startEnv                     = buildEnv()
)

// buildEnv pins the go tool's caches to where they are now.
func buildEnv() []string {
	env := os.Environ()
	home := os.Getenv("HOME")
	if home == "" {
		return env
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = filepath.Join(home, "go")
	}
	gocache := os.Getenv("GOCACHE")
	if gocache == "" && startCacheErr == nil {
		gocache = filepath.Join(startCacheDir, "go-build")
	}
	return append(env, "HOME="+home, "GOPATH="+gopath, "GOCACHE="+gocache)
}

// pinEnv returns env on top of startEnv: the variables a build command
// adds (GOOS, GOARCH, ...) are kept, the rest comes from startEnv.
func pinEnv(env []string) []string {
	now := map[string]bool{}
	for _, kv := range os.Environ() {
		now[kv] = true
	}
	out := slices.Clone(startEnv)
	for _, kv := range env {
		if !now[kv] {
			out = append(out, kv)
		}
	}
	return out
}

// buildCached returns cacheDir/<base>-<sum>.wasm, first running the command
// from build, which must write the module to the path it is given, when that
// file does not exist yet. The command writes to a temporary name that is
// renamed into place, so concurrent test binaries never see half a module.
func buildCached(t testing.TB, base string, sum []byte, build func(out string) *exec.Cmd) string {
	t.Helper()
	return buildCachedFile(t, base, base+"-"+hex.EncodeToString(sum)[:20]+".wasm", build)
}

// buildCachedFile is buildCached for a file of any name in the cache.
func buildCachedFile(t testing.TB, base, name string, build func(out string) *exec.Cmd) string {
	t.Helper()
	dir := cacheDir(t)
	path := filepath.Join(dir, name)

	buildMu.Lock()
	defer buildMu.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp, err := os.CreateTemp(dir, base+"-*.tmp")
	if err != nil {
		t.Fatalf("testwasm: %v", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())

	cmd := build(tmp.Name())
	cmd.Env = pinEnv(cmd.Env)
	builds.Add(1)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testwasm: building %s: %s: %v\n%s", base, strings.Join(cmd.Args, " "), err, out)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatalf("testwasm: %v", err)
	}
	return path
}
