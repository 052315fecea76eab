//go:build unix

package host

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/wire"
)

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestPrivateDirCreates0700(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b", "compile")
	if err := PrivateDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(base, "a"), filepath.Join(base, "a", "b"), dir} {
		if m := mode(t, p); m.Perm() != 0o700 {
			t.Errorf("%s made with mode %v, want 0700", p, m)
		}
	}
	// A cache of this user's that others could only read is tightened.
	os.Chmod(dir, 0o755)
	if err := PrivateDir(dir); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, dir); m.Perm() != 0o700 {
		t.Errorf("existing 0755 cache left %v, want 0700", m)
	}
}

func TestPrivateDirRefuses(t *testing.T) {
	base := t.TempDir()
	sticky := filepath.Join(base, "tmp")
	os.Mkdir(sticky, 0o777)
	os.Chmod(sticky, 0o777|os.ModeSticky)
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	writable := filepath.Join(base, "writable")
	os.Mkdir(writable, 0o700)
	os.Chmod(writable, 0o722)

	if err := PrivateDir(filepath.Join(sticky, "wasmnet-1", "compile")); err != nil {
		t.Errorf("under a sticky world-writable directory (like /tmp): %v", err)
	}
	for _, c := range []struct{ dir, want string }{
		{filepath.Join(open, "compile"), "writable by other users"},
		{writable, "writable by other users"},
	} {
		if err := PrivateDir(c.dir); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("PrivateDir(%s): %v, want an error saying %q", c.dir, err, c.want)
		}
	}
}

// TestPrivateDirRefusesPlanted: another user made the directory (or a
// link to one of theirs) first, in a sticky directory as /tmp is.
func TestPrivateDirRefusesPlanted(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to make files of another user (CI runs as root)")
	}
	const other = 4242
	tmp := t.TempDir()
	os.Chmod(tmp, 0o777|os.ModeSticky)
	planted := filepath.Join(tmp, "wasmnet-0")
	os.Mkdir(planted, 0o755)
	os.Chown(planted, other, other)
	theirs := filepath.Join(tmp, "theirs")
	os.Mkdir(theirs, 0o700)
	link := filepath.Join(tmp, "link")
	os.Symlink(filepath.Join(tmp, "mine"), link)
	os.Lchown(link, other, other)
	for _, dir := range []string{filepath.Join(planted, "compile"), filepath.Join(link, "compile")} {
		err := PrivateDir(dir)
		if err == nil || !strings.Contains(err.Error(), "user "+strconv.Itoa(other)) {
			t.Errorf("PrivateDir(%s): %v, want an error naming user %d", dir, err, other)
		}
	}
	if _, err := os.Stat(filepath.Join(planted, "compile")); err == nil {
		t.Error("PrivateDir wrote into the planted directory")
	}
}

// TestAgentIgnoresPlantedCache is issue 11's attack: a service with
// neither HOME nor XDG_CACHE_HOME keeps its cache in the temporary
// directory, where another user made wasmnet-UID first. The agent runs
// without a disk cache, says so once, and writes nothing there.
func TestAgentIgnoresPlantedCache(t *testing.T) {
	tmp := t.TempDir()
	os.Chmod(tmp, 0o777|os.ModeSticky)
	planted := filepath.Join(tmp, "wasmnet-"+strconv.Itoa(os.Getuid()))
	os.Mkdir(planted, 0o777)
	os.Chmod(planted, 0o777) // made by another user: anyone may write
	if os.Getuid() == 0 {
		os.Chown(planted, 4242, 4242)
	}
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("TMPDIR", tmp)

	log := &testutil.SyncBuffer{}
	cfg := NewConfig().WithLog(log).ResolveCompilationCache()
	if got := strings.Count(log.String(), "without a compilation cache"); got != 1 {
		t.Fatalf("log says %d times that there is no cache, want once:\n%s", got, log)
	}
	a := startAgent(t, cfg)
	startAgent(t, cfg) // a second agent from the same Config says nothing more
	runToEnd(t, a, variant(0, 0))
	out, err := a.client.Call(context.Background(), wire.KindStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	var st wire.Status
	msgpack.Unmarshal(out, &st)
	if st.CompileCache != "" {
		t.Errorf("agent uses cache %q", st.CompileCache)
	}
	if got := strings.Count(log.String(), "without a compilation cache"); got != 1 {
		t.Errorf("log says %d times that there is no cache, want once:\n%s", got, log)
	}
	entries, _ := os.ReadDir(planted)
	if len(entries) != 0 {
		t.Errorf("the agent wrote into the planted directory: %v", entries)
	}
}
