package gateway

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// writeTree makes a source tree with nested directories, an empty file, a
// 3 MiB file, a symbolic link and an executable, and returns its root.
func writeTree(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	big := make([]byte, 3<<20)
	rand.Read(big)
	files := []struct {
		name string
		data []byte
		mode fs.FileMode
	}{
		{"top.txt", []byte("top\n"), 0o644},
		{"empty", nil, 0o600},
		{"a/b/c/deep.txt", []byte("deep\n"), 0o644},
		{"a/big.bin", big, 0o644},
		{"bin/run.sh", []byte("#!/bin/sh\necho hi\n"), 0o755},
	}
	for _, f := range files {
		p := filepath.Join(src, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(src, "a", "b"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/b/c/deep.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	return src
}

// treeOf describes every entry under root: kind, permission bits, and the
// sha256 of a file or the target of a link.
func treeOf(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[rel] = "link " + target
			return err
		case fi.IsDir():
			out[rel] = "dir " + fi.Mode().Perm().String()
		default:
			b, err := os.ReadFile(p)
			out[rel] = "file " + fi.Mode().Perm().String() + " " + sha256Hex(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func sameTree(t *testing.T, src, dest string) {
	t.Helper()
	want, got := treeOf(t, src), treeOf(t, dest)
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: got %q, want %q", p, got[p], w)
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %q is not in the source", p, g)
		}
	}
}

func TestRSyncTreeThenIncremental(t *testing.T) {
	src, work := writeTree(t), t.TempDir()
	g := popen(t, "popen//chdir="+work)
	ctx := testCtx(t)

	st, err := g.RSync(ctx, src, "dest")
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(work, "dest")
	sameTree(t, src, dest)
	if want := (RSyncStats{Files: 5, Bytes: 4 + 5 + 3<<20 + 18}); st != want {
		t.Errorf("first sync: %+v, want %+v", st, want)
	}

	if st, err = g.RSync(ctx, src, "dest"); err != nil || st != (RSyncStats{}) {
		t.Fatalf("second sync: %+v, %v; want nothing sent", st, err)
	}

	if err := os.WriteFile(filepath.Join(src, "a", "b", "c", "deep.txt"), []byte("deeper\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "top.txt"), 0o600); err != nil { // a mode alone sends nothing
		t.Fatal(err)
	}
	if st, err = g.RSync(ctx, src, "dest"); err != nil || st != (RSyncStats{Files: 1, Bytes: 7}) {
		t.Fatalf("after one change: %+v, %v; want one file of 7 bytes", st, err)
	}
	sameTree(t, src, dest)

	if err := os.Remove(filepath.Join(src, "empty")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src, "bin")); err != nil {
		t.Fatal(err)
	}
	if st, err = g.RSync(ctx, src, "dest"); err != nil || st != (RSyncStats{}) {
		t.Fatalf("without delete: %+v, %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(dest, "empty")); err != nil {
		t.Errorf("without WithDelete the file left: %v", err)
	}
	if st, err = g.RSync(ctx, src, "dest", WithDelete()); err != nil || st != (RSyncStats{Deleted: 3}) {
		t.Fatalf("with delete: %+v, %v; want empty, bin and bin/run.sh deleted", st, err)
	}
	sameTree(t, src, dest)
}

func TestRSyncFilterAndAbsoluteDest(t *testing.T) {
	src, dest := writeTree(t), filepath.Join(t.TempDir(), "new", "dest")
	g := popen(t, "popen")
	st, err := g.RSync(testCtx(t), src, dest, WithFilter(func(rel string, d fs.DirEntry) bool {
		return rel != "a" && !strings.HasSuffix(rel, ".sh")
	}))
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 2 {
		t.Errorf("sent %d files, want top.txt and empty", st.Files)
	}
	got := treeOf(t, dest)
	if _, ok := got["a"]; ok {
		t.Error("the filtered directory a was sent")
	}
	if _, ok := got[filepath.Join("bin", "run.sh")]; ok {
		t.Error("the filtered bin/run.sh was sent")
	}
	if got["link"] != "link a/b/c/deep.txt" {
		t.Errorf("link: %q", got["link"])
	}
}

// doctored returns a manifest of one file named p, with parent directories
// as listed, whose content is "x".
func doctored(t *testing.T, dirs []string, p string) *manifest {
	src := t.TempDir()
	full := filepath.Join(src, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err == nil {
		os.WriteFile(full, []byte("x"), 0o644)
	}
	sum := sha256.Sum256([]byte("x"))
	m := &manifest{src: src, files: map[string]*wire.RSyncEntry{}}
	for _, d := range dirs {
		m.entries = append(m.entries, wire.RSyncEntry{Path: d, Mode: 0o755, Dir: true})
	}
	m.entries = append(m.entries, wire.RSyncEntry{Path: p, Mode: 0o644, Size: 1, SHA256: sum[:]})
	m.files[p] = &m.entries[len(m.entries)-1]
	return m
}

func TestRSyncRefusesPathsOutsideDest(t *testing.T) {
	work := t.TempDir()
	g := popen(t, "popen//chdir="+work)
	ctx := testCtx(t)
	outside := filepath.Join(work, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dirs []string
		path string
	}{
		{"dotdot", nil, "../x"},
		{"absolute", nil, filepath.ToSlash(filepath.Join(outside, "x"))},
		{"inner dotdot", []string{"a"}, "a/../../x"},
		{"unclean", []string{"a"}, "a//x"},
		{"dot", nil, "."},
		{"parent not named", nil, "evil/x"},
		{"parent a file", nil, "x/y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := doctored(t, tt.dirs, tt.path)
			_, err := g.rsync(ctx, m, "dest", &rsyncConfig{})
			var remote *channel.RemoteError
			if !errors.As(err, &remote) || !strings.Contains(err.Error(), "gateway gw0") {
				t.Fatalf("got %v, want a RemoteError naming the gateway", err)
			}
			if _, err := os.Lstat(filepath.Join(work, "x")); err == nil {
				t.Fatal("a file was written outside the destination")
			}
		})
	}

	// A symbolic link at Dest/evil that leads outside: the manifest names
	// evil as a directory, which replaces the link; nothing is written
	// through it.
	dest := filepath.Join(work, "dest")
	if err := os.Symlink(outside, filepath.Join(dest, "evil")); err != nil {
		t.Fatal(err)
	}
	if _, err := g.rsync(ctx, doctored(t, nil, "evil/x"), "dest", &rsyncConfig{}); err == nil {
		t.Fatal("evil/x under a link that the manifest does not name was accepted")
	}
	if _, err := g.rsync(ctx, doctored(t, []string{"evil"}, "evil/x"), "dest", &rsyncConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(outside, "x")); err == nil {
		t.Fatal("a file was written through a link to outside the destination")
	}
	if fi, err := os.Lstat(filepath.Join(dest, "evil")); err != nil || !fi.IsDir() {
		t.Fatalf("evil: %v, %v; want a directory in place of the link", fi, err)
	}
}

func TestRSyncRejectsWrongContent(t *testing.T) {
	work := t.TempDir()
	g := popen(t, "popen//chdir="+work)
	m := doctored(t, nil, "f")
	m.entries[0].SHA256 = bytes.Repeat([]byte{1}, 32)
	_, err := g.rsync(testCtx(t), m, "dest", &rsyncConfig{})
	var remote *channel.RemoteError
	if !errors.As(err, &remote) || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("got %v, want a RemoteError about the sha256", err)
	}
	if left := treeOf(t, filepath.Join(work, "dest")); len(left) != 0 {
		t.Errorf("the failed transfer left %v", left)
	}
}

func TestGroupRSync(t *testing.T) {
	src := writeTree(t)
	grp := NewGroup(WithGatewayOptions(WithAgentPath(testwasm.Agent(t)), WithOutput(&testutil.SyncBuffer{})))
	t.Cleanup(func() { grp.Terminate(10 * time.Second) })
	var works []string
	var specs []string
	for range 3 {
		w := t.TempDir()
		works = append(works, w)
		specs = append(specs, "popen//chdir="+w)
	}
	ctx := testCtx(t)
	if _, err := grp.MakeGateways(ctx, specs...); err != nil {
		t.Fatal(err)
	}
	stats, err := grp.RSync(ctx, src, "dest")
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range works {
		id := fmt.Sprintf("gw%d", i)
		if stats[id].Files != 5 {
			t.Errorf("%s: %+v, want 5 files", id, stats[id])
		}
		sameTree(t, src, filepath.Join(w, "dest"))
	}

	// An error names its gateway; the others still succeed.
	if err := os.WriteFile(filepath.Join(works[1], "dest2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stats, err = grp.RSync(ctx, src, "dest2")
	if err == nil || !strings.Contains(err.Error(), "gateway gw1") || len(stats) != 2 {
		t.Fatalf("got %v, %v; want gw1 to fail on a destination that is a file", stats, err)
	}
}

// The receiver writes a new file for a mode change: a chmod in place would
// reach, through a hard link already in the destination, a file outside it.
func TestRSyncLeavesHardLinkedFileOutsideDest(t *testing.T) {
	src, work := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("same\n"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "f"), 0o777); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(work, "secret")
	if err := os.WriteFile(outside, []byte("same\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(work, "dest")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(outside, filepath.Join(dest, "f")); err != nil {
		t.Fatal(err)
	}
	g := popen(t, "popen")
	if _, err := g.RSync(testCtx(t), src, dest); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(outside); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the file outside the destination: %v, %v; want mode 0600 kept", fi.Mode(), err)
	}
	sameTree(t, src, dest)
}
