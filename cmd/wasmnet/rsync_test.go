package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRSync(t *testing.T) {
	src, w1, w2 := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"a.txt": "a\n", "sub/b.txt": "bb\n", "old.txt": "old\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"rsync", "-g", "popen//chdir=" + w1, "-g", "popen//chdir=" + w2, src, "dest"}
	out, stderr, code := wasmnet(t, args...)
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	for _, id := range []string{"gw0", "gw1"} {
		if !hasRow(out, id, "3", "0") {
			t.Errorf("no row of 3 files for %s:\n%s", id, out)
		}
	}
	for _, w := range []string{w1, w2} {
		if b, err := os.ReadFile(filepath.Join(w, "dest", "sub", "b.txt")); err != nil || string(b) != "bb\n" {
			t.Errorf("%s: sub/b.txt: %q, %v", w, b, err)
		}
	}

	if err := os.Remove(filepath.Join(src, "old.txt")); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = wasmnet(t, append(args, "--delete")...)
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	if !hasRow(out, "gw0", "0", "1") || !hasRow(out, "gw1", "0", "1") {
		t.Errorf("want 0 files sent and 1 deleted on each gateway:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(w1, "dest", "old.txt")); err == nil {
		t.Error("--delete left old.txt")
	}
}

func TestRSyncFails(t *testing.T) {
	_, stderr, code := wasmnet(t, "rsync", "-g", "popen//chdir="+t.TempDir(), filepath.Join(t.TempDir(), "missing"), "dest")
	if code != 1 || !strings.Contains(stderr, "missing") {
		t.Errorf("missing source: exit status %d, stderr %q", code, stderr)
	}
	w := t.TempDir()
	if err := os.WriteFile(filepath.Join(w, "dest"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := wasmnet(t, "rsync", "-g", "popen//chdir="+w, t.TempDir(), "dest")
	if code != 1 || !strings.Contains(stderr, "gateway gw0") || !strings.Contains(out, "failed") {
		t.Errorf("destination a file: exit status %d\nstdout %s\nstderr %s", code, out, stderr)
	}
}

// hasRow reports whether the table out has a row for id with that many
// files and deletions.
func hasRow(out, id, files, deleted string) bool {
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == id && f[1] == files && f[len(f)-2] == deleted && f[len(f)-1] == "ok" {
			return true
		}
	}
	return false
}

// TestRSyncVerbose is execnet's test_rsync_default_reporting and
// test_rsync_non_verbose: with -v each file sent is printed with its
// gateway, without it none is; a name with a newline stays one line.
func TestRSyncVerbose(t *testing.T) {
	src, w := t.TempDir(), t.TempDir()
	for _, name := range []string{"hello", "two\nlines"} {
		if err := os.WriteFile(filepath.Join(src, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, code := wasmnet(t, "rsync", "-v", "-g", "popen//id=v//chdir="+w, src, "dest")
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	if !strings.Contains(out, "v <= hello\n") || !strings.Contains(out, `v <= "two\nlines"`+"\n") {
		t.Errorf("-v does not name the files sent:\n%s", out)
	}
	os.WriteFile(filepath.Join(src, "hello"), []byte("changed"), 0o644)
	out, _, code = wasmnet(t, "rsync", "-g", "popen//id=v//chdir="+w, src, "dest")
	if code != 0 || strings.Contains(out, "<=") || !hasRow(out, "v", "1", "0") {
		t.Errorf("without -v: exit %d\n%s", code, out)
	}
}
