package testwasm

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The C and Rust example guests: wasm-examples/<name>/<name>.c and
// <name>.rs, built against the SDKs in guest/c and guest/rust. The commands
// are the ones mk/polyglot.mk runs.

const (
	// clangTool is Debian's clang with the wasm32 backend.
	clangTool = "clang-14"
	// rustcTool is Debian's rustc, whose sysroot has the wasm32-wasi std
	// (libstd-rust-dev-wasm32); a rustup proxy on PATH may lack it.
	rustcTool = "/usr/bin/rustc"
	// wasiSysroot is where Debian's wasi-libc puts wasm32-wasi's headers
	// (include/wasm32-wasi) and libraries (lib/wasm32-wasi).
	wasiSysroot = "/usr"
)

const cAptHint = "apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32"
const rustAptHint = "apt-get install rustc libstd-rust-dev-wasm32"

// CArgs returns the clang-14 arguments that build wasm-examples/<name>/<name>.c
// into out, relative to the repository root.
func CArgs(name, out string) []string {
	return []string{"--target=wasm32-wasi", "--sysroot=" + wasiSysroot, "-O2", "-mllvm", "-rotation-max-header-size=0", "-Wall", "-Wextra",
		"-I", "guest/c", "-I", "wasm-examples/" + name,
		"guest/c/wasmnet.c", "wasm-examples/" + name + "/" + name + ".c", "-o", out}
}

// RustArgs returns the rustc arguments that build wasm-examples/<name>/<name>.rs
// into out, relative to the repository root.
func RustArgs(name, out string) []string {
	return []string{"--edition", "2021", "--target", "wasm32-wasi", "-C", "opt-level=3",
		"wasm-examples/" + name + "/" + name + ".rs", "-o", out}
}

// C returns the path of wasm-examples/<name>/<name>.c built with clang-14 for
// wasm32-wasi against Debian's wasi-libc and the C SDK (guest/c). The build
// is cached by a hash of the example's folder, the SDK and clang's version.
func C(t testing.TB, name string) string {
	t.Helper()
	root := Root(t)
	src := filepath.Join(root, "wasm-examples", name, name+".c")
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("testwasm: no C example %q: %v", name, err)
	}
	clang, err := exec.LookPath(clangTool)
	if err != nil {
		t.Fatalf("testwasm: %s is needed to build C guests but is not on PATH (on Debian: %s)", clangTool, cAptHint)
	}
	for _, need := range []string{"include/wasm32-wasi/stdio.h", "lib/wasm32-wasi/libc.a", "lib/wasm32-wasi/crt1-command.o"} {
		if _, err := os.Stat(filepath.Join(wasiSysroot, need)); err != nil {
			t.Fatalf("testwasm: the wasi sysroot lacks %s, needed to build C guests (on Debian: %s)",
				filepath.Join(wasiSysroot, need), cAptHint)
		}
	}

	h := sha256.New()
	fmt.Fprintf(h, "c\x00%s\x00%q\x00", toolVersion(t, clang, "--version"), CArgs(name, "OUT"))
	isSrc := func(p string) bool {
		return strings.HasSuffix(p, ".c") || strings.HasSuffix(p, ".h")
	}
	if err := hashSources(h, root, []string{"guest/c", filepath.Join("wasm-examples", name)}, isSrc); err != nil {
		t.Fatalf("testwasm: hashing the sources of %s: %v", name, err)
	}
	return buildCached(t, "c-"+name, h.Sum(nil), func(out string) *exec.Cmd {
		cmd := exec.Command(clang, CArgs(name, out)...)
		cmd.Dir = root
		return cmd
	})
}

// Rust returns the path of wasm-examples/<name>/<name>.rs built with Debian's
// rustc (/usr/bin/rustc, not a rustup proxy) for wasm32-wasi, including the
// Rust SDK (guest/rust/wasmnet.rs) as a module. The build is cached by a hash
// of the example's folder, the SDK and rustc's version.
func Rust(t testing.TB, name string) string {
	t.Helper()
	root := Root(t)
	src := filepath.Join(root, "wasm-examples", name, name+".rs")
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("testwasm: no Rust example %q: %v", name, err)
	}
	if _, err := os.Stat(rustcTool); err != nil {
		t.Fatalf("testwasm: %s is needed to build Rust guests but is missing (on Debian: %s)", rustcTool, rustAptHint)
	}
	out, err := exec.Command(rustcTool, "--print", "sysroot").Output()
	if err != nil {
		t.Fatalf("testwasm: %s --print sysroot: %v", rustcTool, err)
	}
	std := filepath.Join(strings.TrimSpace(string(out)), "lib", "rustlib", "wasm32-wasi", "lib")
	if m, _ := filepath.Glob(filepath.Join(std, "libstd-*.rlib")); len(m) == 0 {
		t.Fatalf("testwasm: %s has no wasm32-wasi standard library in %s (on Debian: %s)", rustcTool, std, rustAptHint)
	}

	h := sha256.New()
	fmt.Fprintf(h, "rust\x00%s\x00%q\x00", toolVersion(t, rustcTool, "-vV"), RustArgs(name, "OUT"))
	isSrc := func(p string) bool { return strings.HasSuffix(p, ".rs") }
	if err := hashSources(h, root, []string{"guest/rust", filepath.Join("wasm-examples", name)}, isSrc); err != nil {
		t.Fatalf("testwasm: hashing the sources of %s: %v", name, err)
	}
	return buildCached(t, "rust-"+name, h.Sum(nil), func(out string) *exec.Cmd {
		cmd := exec.Command(rustcTool, RustArgs(name, out)...)
		cmd.Dir = root
		return cmd
	})
}

var toolVersions sync.Map // tool path + flag -> version output

// toolVersion returns the output of `tool flag`, part of every build key: a
// new compiler builds a different module.
func toolVersion(t testing.TB, tool, flag string) string {
	t.Helper()
	key := tool + "\x00" + flag
	if v, ok := toolVersions.Load(key); ok {
		return v.(string)
	}
	out, err := exec.Command(tool, flag).Output()
	if err != nil {
		t.Fatalf("testwasm: %s %s: %v", tool, flag, err)
	}
	v := strings.TrimSpace(string(out))
	toolVersions.Store(key, v)
	return v
}
