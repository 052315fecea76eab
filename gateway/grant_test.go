package gateway

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// grantTree is a directory granted to a guest beside one it must never
// reach. base/outside holds a secret; base/bait.txt is what a link made
// harmless in grant/sub points to once moved up one level.
type grantTree struct {
	base, grant, outside string
}

func newGrantTree(t *testing.T) grantTree {
	t.Helper()
	base := t.TempDir()
	g := grantTree{base: base, grant: filepath.Join(base, "grant"), outside: filepath.Join(base, "outside")}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{g.grant, filepath.Join(g.grant, "sub"), g.outside, filepath.Join(g.outside, "emptydir")} {
		must(os.Mkdir(d, 0o755))
	}
	must(os.WriteFile(filepath.Join(g.outside, "secret.txt"), []byte("secret"), 0o644))
	must(os.WriteFile(filepath.Join(base, "bait.txt"), []byte("secret bait"), 0o644))
	must(os.WriteFile(filepath.Join(g.grant, "file.txt"), []byte("inside"), 0o644))
	// Links planted before the guest starts, as RSync or a user could.
	for link, target := range map[string]string{
		"p-rel":        "../outside",
		"p-abs":        g.outside,
		"sub/p-deep":   "../../outside",
		"p-file":       filepath.Join(g.outside, "secret.txt"),
		"p-file-rel":   "../outside/secret.txt",
		"p-root":       "/",
		"sub/p-parent": "..",
	} {
		must(os.Symlink(target, filepath.Join(g.grant, link)))
	}
	return g
}

// snapshot describes every file under the tree but the grant: names,
// modes, sizes, times and contents.
func (g grantTree) snapshot(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(g.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == g.grant {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d %d", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", sha256.Sum256(data))
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

type fsOp struct{ op, a, b, data string }

// attacker runs the fsattack guest with the tree's grant at /data.
type attacker struct {
	t  *testing.T
	ch *channel.Channel
}

func newAttacker(t *testing.T, g grantTree, readOnly bool) *attacker {
	t.Helper()
	gw, err := Make(testCtx(t), "inproc", withInproc(), WithOutput(&testutil.SyncBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Exit(testCtx(t)) })
	ch := remoteExec(t, gw, "fsattack", WithDir(g.grant, "/data", readOnly))
	t.Cleanup(func() { ch.Send(nil); ch.Close() })
	return &attacker{t: t, ch: ch}
}

// do runs one operation in the guest and returns its error text ("" for
// success) and what it read.
func (a *attacker) do(o fsOp) (string, any) {
	a.t.Helper()
	req := map[string]any{"op": o.op, "a": o.a, "b": o.b, "data": []byte(o.data)}
	if err := a.ch.Send(req); err != nil {
		a.t.Fatal(err)
	}
	reply := receive(a.t, a.ch).(map[string]any)
	return reply["err"].(string), reply["data"]
}

// mustFail checks that an attack fails and reads nothing from outside.
func (a *attacker) mustFail(o fsOp) {
	a.t.Helper()
	errText, data := a.do(o)
	if errText == "" {
		a.t.Errorf("%s %s %s: succeeded (read %v), want an error", o.op, o.a, o.b, data)
	}
	if s := fmt.Sprint(data); strings.Contains(s, "secret") || strings.Contains(s, "bait") {
		a.t.Errorf("%s %s %s: read %q from outside the grant", o.op, o.a, o.b, s)
	}
}

func (a *attacker) mustSucceed(o fsOp) any {
	a.t.Helper()
	errText, data := a.do(o)
	if errText != "" {
		a.t.Fatalf("%s %s %s: %s", o.op, o.a, o.b, errText)
	}
	return data
}

// escapes lists what a guest tries through a link that leads out of its
// grant, to a directory (dir) or to a file (file).
func escapes(g grantTree, dirLinks, fileLinks []string) []fsOp {
	var ops []fsOp
	for _, l := range dirLinks {
		d := "/data/" + l
		ops = append(ops,
			fsOp{op: "read", a: d + "/secret.txt"},
			fsOp{op: "readdir", a: d},
			fsOp{op: "stat", a: d + "/secret.txt"},
			fsOp{op: "write", a: d + "/new.txt", data: "planted"},
			fsOp{op: "write", a: d + "/secret.txt", data: "overwritten"},
			fsOp{op: "append", a: d + "/secret.txt", data: "appended"},
			fsOp{op: "truncate", a: d + "/secret.txt"},
			fsOp{op: "chtimes", a: d + "/secret.txt"},
			fsOp{op: "mkdir", a: d + "/newdir"},
			fsOp{op: "unlink", a: d + "/secret.txt"},
			fsOp{op: "rmdir", a: d + "/emptydir"},
			fsOp{op: "symlink", a: "x", b: d + "/evil"},
			fsOp{op: "readlink", a: d + "/evil"},
			fsOp{op: "rename", a: "/data/file.txt", b: d + "/moved.txt"},
			fsOp{op: "rename", a: d + "/secret.txt", b: "/data/stolen.txt"},
			fsOp{op: "link", a: d + "/secret.txt", b: "/data/hard.txt"},
			fsOp{op: "link", a: "/data/file.txt", b: d + "/hard.txt"},
		)
	}
	for _, l := range fileLinks {
		f := "/data/" + l
		ops = append(ops,
			fsOp{op: "read", a: f},
			fsOp{op: "stat", a: f},
			fsOp{op: "write", a: f, data: "overwritten"},
			fsOp{op: "append", a: f, data: "appended"},
			fsOp{op: "truncate", a: f},
			fsOp{op: "chtimes", a: f},
		)
	}
	secret := strings.TrimPrefix(filepath.ToSlash(filepath.Join(g.outside, "secret.txt")), "/")
	ops = append(ops,
		fsOp{op: "read", a: "/data/p-root/" + secret},
		fsOp{op: "read", a: "/data/sub/p-parent/p-rel/secret.txt"},
		// ".." that reaches the host as written, and as Go cleans it.
		fsOp{op: "rawread", a: "../outside/secret.txt"},
		fsOp{op: "rawread", a: "sub/../../outside/secret.txt"},
		fsOp{op: "rawread", a: "sub/../../bait.txt"},
		fsOp{op: "rawread", a: "/" + secret},
		fsOp{op: "read", a: "/data/../outside/secret.txt"},
		fsOp{op: "read", a: "/data/sub/../../bait.txt"},
	)
	return ops
}

var plantedDirLinks = []string{"p-rel", "p-abs", "sub/p-deep"}
var plantedFileLinks = []string{"p-file", "p-file-rel"}

func TestGrantConfinesPlantedLinks(t *testing.T) {
	for _, readOnly := range []bool{true, false} {
		t.Run(fmt.Sprintf("readOnly=%v", readOnly), func(t *testing.T) {
			g := newGrantTree(t)
			before := g.snapshot(t)
			a := newAttacker(t, g, readOnly)
			// The grant itself works, so the failures below are refusals.
			if got := a.mustSucceed(fsOp{op: "read", a: "/data/file.txt"}); string(got.([]byte)) != "inside" {
				t.Fatalf("read /data/file.txt: %q", got)
			}
			if got := a.mustSucceed(fsOp{op: "readlink", a: "/data/p-rel"}); got != "../outside" {
				t.Fatalf("readlink /data/p-rel: %q", got)
			}
			for _, o := range escapes(g, plantedDirLinks, plantedFileLinks) {
				a.mustFail(o)
			}
			if after := g.snapshot(t); after != before {
				t.Errorf("outside the grant changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func TestGrantReadOnlyRefusesChanges(t *testing.T) {
	g := newGrantTree(t)
	a := newAttacker(t, g, true)
	for _, o := range []fsOp{
		{op: "write", a: "/data/new.txt", data: "x"},
		{op: "write", a: "/data/file.txt", data: "x"},
		{op: "append", a: "/data/file.txt", data: "x"},
		{op: "truncate", a: "/data/file.txt"},
		{op: "chtimes", a: "/data/file.txt"},
		{op: "mkdir", a: "/data/d"},
		{op: "unlink", a: "/data/file.txt"},
		{op: "rmdir", a: "/data/sub"},
		{op: "symlink", a: "../outside", b: "/data/esc"},
		{op: "link", a: "/data/file.txt", b: "/data/hard"},
		{op: "rename", a: "/data/file.txt", b: "/data/moved"},
	} {
		a.mustFail(o)
	}
	if b, err := os.ReadFile(filepath.Join(g.grant, "file.txt")); err != nil || string(b) != "inside" {
		t.Errorf("file.txt in a read-only grant: %q, %v", b, err)
	}
	for _, name := range []string{"new.txt", "d", "esc", "hard", "moved"} {
		if _, err := os.Lstat(filepath.Join(g.grant, name)); err == nil {
			t.Errorf("a read-only grant gained %s", name)
		}
	}
}

func TestGrantConfinesGuestLinks(t *testing.T) {
	g := newGrantTree(t)
	before := g.snapshot(t)
	a := newAttacker(t, g, false)

	// Making a link is allowed, wherever it points: following it is not.
	a.mustSucceed(fsOp{op: "symlink", a: strings.Repeat("../", 16), b: "/data/esc"})
	a.mustSucceed(fsOp{op: "symlink", a: g.outside, b: "/data/esc-abs"})
	a.mustSucceed(fsOp{op: "mkdir", a: "/data/d"})
	a.mustSucceed(fsOp{op: "symlink", a: "../../outside", b: "/data/d/up"})
	a.mustSucceed(fsOp{op: "symlink", a: "../outside/secret.txt", b: "/data/f-rel"})
	a.mustSucceed(fsOp{op: "symlink", a: filepath.Join(g.outside, "secret.txt"), b: "/data/f-abs"})
	// By rename: a link harmless in sub/ escapes one level up.
	a.mustSucceed(fsOp{op: "symlink", a: "../bait.txt", b: "/data/sub/bait"})
	a.mustSucceed(fsOp{op: "symlink", a: "../outside", b: "/data/sub/up"})
	a.mustSucceed(fsOp{op: "rename", a: "/data/sub/bait", b: "/data/bait"})
	a.mustSucceed(fsOp{op: "rename", a: "/data/sub", b: "/data/moved/"})
	// By link: a hard link to a link that leads out.
	a.mustSucceed(fsOp{op: "mkdir", a: "/data/h"})
	linked, _ := a.do(fsOp{op: "link", a: "/data/f-rel", b: "/data/h/hard"})
	t.Logf("hard link to a symlink: %q", linked)

	secret := strings.TrimPrefix(filepath.ToSlash(filepath.Join(g.outside, "secret.txt")), "/")
	ops := escapes(g, []string{"esc-abs", "d/up"}, []string{"f-rel", "f-abs", "bait", "h/hard"})
	ops = append(ops,
		fsOp{op: "read", a: "/data/esc/" + secret},
		fsOp{op: "write", a: "/data/esc/" + secret, data: "overwritten"},
		fsOp{op: "readdir", a: "/data/esc"},
		fsOp{op: "read", a: "/data/moved/up/secret.txt"},
	)
	for _, o := range ops {
		a.mustFail(o)
	}

	// Links that stay inside work.
	a.mustSucceed(fsOp{op: "symlink", a: "file.txt", b: "/data/ok"})
	a.mustSucceed(fsOp{op: "symlink", a: "../file.txt", b: "/data/moved/ok"})
	for _, p := range []string{"/data/ok", "/data/moved/ok"} {
		if got := a.mustSucceed(fsOp{op: "read", a: p}); string(got.([]byte)) != "inside" {
			t.Errorf("read %s: %q", p, got)
		}
	}
	a.mustSucceed(fsOp{op: "write", a: "/data/new.txt", data: "made"})
	if b, err := os.ReadFile(filepath.Join(g.grant, "new.txt")); err != nil || string(b) != "made" {
		t.Errorf("write inside a read-write grant: %q, %v", b, err)
	}
	if after := g.snapshot(t); after != before {
		t.Errorf("outside the grant changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
