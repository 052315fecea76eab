package gateway

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Ports of execnet's testing/test_rsync.py, TestRSync, for what wasmnet's
// RSync does as execnet's does.

// TestRSyncFileDisappearing is execnet's test_file_disappearing: a file
// removed while the tree is listed is skipped, not an error. A file
// removed after it was listed, before it is sent, is skipped too.
func TestRSyncFileDisappearing(t *testing.T) {
	src, dest := t.TempDir(), filepath.Join(t.TempDir(), "dest")
	for _, name := range []string{"ex", "ex2", "later"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(strings.Repeat("a", 100)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sawEx2 := false
	rs := NewRSync(src,
		WithFilter(func(rel string, _ fs.DirEntry) bool {
			if rel == "ex2" {
				sawEx2 = true
				os.Remove(filepath.Join(src, "ex2"))
			}
			return true
		}),
		WithProgress(func(ev RSyncEvent) {
			if ev.Kind == RSyncList { // listed and asked for, not yet sent
				os.Remove(filepath.Join(src, "later"))
			}
		}))
	rs.Add(popen(t, "popen"), dest, nil)
	stats, err := rs.Send(testCtx(t))
	if err != nil {
		t.Fatalf("a vanished file failed the send: %v", err)
	}
	if !sawEx2 {
		t.Fatal("the filter never saw ex2")
	}
	if got := treeOf(t, dest); len(got) != 1 || got["ex"] == "" {
		t.Errorf("destination %v, want ex alone", got)
	}
	if stats[0].Files != 1 {
		t.Errorf("stats %+v, want one file sent", stats[0])
	}
}

// TestRSyncSymlinks is execnet's test_symlink_rsync and test_symlink2_rsync:
// a relative link is copied as it is; an absolute link into the source
// points to the destination's copy; an absolute link elsewhere (the
// source's parent) is copied as it is.
func TestRSyncSymlinks(t *testing.T) {
	src, dest := t.TempDir(), filepath.Join(t.TempDir(), "dest")
	sub := filepath.Join(src, "subdir")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(sub, "existent")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"rellink":       "subdir/existent",
		"abslink":       file,
		"subdir/link1":  "link2",
		"subdir/link2":  file,
		"subdir/link3":  filepath.Dir(src),
		"subdir/itself": src, // the source itself: execnet leaves it too
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(src, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := popen(t, "popen").RSync(testCtx(t), src, dest); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"rellink":       "subdir/existent",
		"abslink":       filepath.Join(dest, "subdir", "existent"),
		"subdir/link1":  "link2",
		"subdir/link2":  filepath.Join(dest, "subdir", "existent"),
		"subdir/link3":  filepath.Dir(src),
		"subdir/itself": src,
	}
	for name, w := range want {
		if got, err := os.Readlink(filepath.Join(dest, filepath.FromSlash(name))); err != nil || got != w {
			t.Errorf("%s -> %q, %v; want -> %q", name, got, err, w)
		}
	}
}

// TestRSyncProgress is execnet's test_callback: the callback hears the
// total size a target needs, then each file with its size.
func TestRSyncProgress(t *testing.T) {
	src, dest := t.TempDir(), filepath.Join(t.TempDir(), "dest")
	os.WriteFile(filepath.Join(src, "existent"), []byte(strings.Repeat("a", 100)), 0o644)
	os.WriteFile(filepath.Join(src, "existant2"), []byte(strings.Repeat("a", 10)), 0o644)
	g := popen(t, "popen//id=p")
	var events []string
	rs := NewRSync(src, WithProgress(func(ev RSyncEvent) {
		if ev.Gateway != g || ev.Dest != dest {
			t.Errorf("event for %v %s", ev.Gateway, ev.Dest)
		}
		events = append(events, ev.Kind+" "+ev.Path+" "+strings.Repeat("+", int(ev.Size/10)))
	}))
	rs.Add(g, dest, nil)
	if _, err := rs.Send(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	slices.Sort(events[1:])
	want := []string{"list  " + strings.Repeat("+", 11), "sent existant2 +", "sent existent " + strings.Repeat("+", 10)}
	if !slices.Equal(events, want) {
		t.Errorf("events\n got %q\nwant %q", events, want)
	}
}

// TestRSyncPerTargetDelete is the end of execnet's test_dirsync:
// add_target(gw1, dest, delete=True) deletes in that target only.
func TestRSyncPerTargetDelete(t *testing.T) {
	src, work := t.TempDir(), t.TempDir()
	sub := filepath.Join(src, "subdir")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "file1"), []byte("content"), 0o644)
	g1, g2 := popen(t, "popen//id=one"), popen(t, "popen//id=two")
	dest1, dest2 := filepath.Join(work, "dest1"), filepath.Join(work, "dest2")
	rs := NewRSync(src)
	rs.Add(g1, dest1, nil)
	rs.Add(g2, dest2, nil)
	if _, err := rs.Send(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(sub, "file1"))
	rs = NewRSync(src)
	rs.Add(g1, dest1, nil, WithDelete())
	rs.Add(g2, dest2, nil)
	stats, err := rs.Send(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dest1, "subdir", "file1")); !os.IsNotExist(err) {
		t.Errorf("the target with delete kept file1: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dest2, "subdir", "file1")); err != nil {
		t.Errorf("the target without delete lost file1: %v", err)
	}
	if stats[0].Deleted != 1 || stats[1].Deleted != 0 {
		t.Errorf("stats %+v", stats)
	}

	rs = NewRSync(src)
	rs.Add(g1, dest1, nil, WithFilter(func(string, fs.DirEntry) bool { return true }))
	if _, err := rs.Send(testCtx(t)); err == nil || !strings.Contains(err.Error(), "only WithDelete") {
		t.Errorf("a filter for one target: %v", err)
	}
}
