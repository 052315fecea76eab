//go:build linux

package testutil

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/wasmnet/wasmnet/internal/resident"
)

// ResidentHome gives the test a cache directory of its own, through
// $XDG_CACHE_HOME, so that the resident agents it starts are its own,
// and kills them when the test ends: they are not its children, and would
// otherwise idle on for minutes. The directory is short, as a unix
// socket's path is bounded (108 bytes).
func ResidentHome(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wr")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", dir)
	t.Cleanup(func() {
		KillResidents(t, dir)
		os.RemoveAll(dir)
	})
	return dir
}

// KillResidents kills the resident agents listening in the cache
// directory home and waits until they have ended.
func KillResidents(t testing.TB, home string) {
	t.Helper()
	for _, pid := range ResidentPIDs(t, home) {
		syscall.Kill(pid, syscall.SIGKILL)
		WaitProcessEnded(t, pid)
	}
}

// ResidentPIDs returns the processes of the resident agents listening in
// the cache directory home, as their sockets' peer credentials say.
func ResidentPIDs(t testing.TB, home string) []int {
	t.Helper()
	socks, _ := filepath.Glob(filepath.Join(home, "wasmnet", "resident", "r-*.sock"))
	var pids []int
	for _, s := range socks {
		c, err := net.Dial("unix", s)
		if err != nil {
			continue
		}
		cred, err := resident.PeerCred(c.(*net.UnixConn))
		c.Close()
		if err == nil {
			pids = append(pids, int(cred.Pid))
		}
	}
	return pids
}
