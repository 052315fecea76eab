package gateway

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestRemoteInfoPopen is execnet's TestPopenGateway.test_rinfo_popen (and
// TestBasicGateway.test__rinfo): the agent reports its working directory
// and executable, in the hello and in its status, so that a tool such as
// pytest-xdist can tell whether its workers share a file system.
func TestRemoteInfoPopen(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := filepath.EvalSymlinks(testwasm.Agent(t))
	if err != nil {
		t.Fatal(err)
	}
	g := popen(t, "popen")
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Cwd != cwd || st.Executable != exe {
		t.Errorf("status: cwd %q, executable %q; want %q, %q", st.Cwd, st.Executable, cwd, exe)
	}
	if info := g.Info(); info.Cwd != cwd || info.Executable != exe {
		t.Errorf("hello: cwd %q, executable %q; want %q, %q", info.Cwd, info.Executable, cwd, exe)
	}
}

// TestRemoteInfoChdir is execnet's TestPopenGateway.test_chdir_separation
// seen through the remote info: an agent started with chdir= reports that
// directory, not the client's.
func TestRemoteInfoChdir(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := popen(t, "popen//chdir="+dir)
	st, err := g.RemoteStatus(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Cwd != dir || g.Info().Cwd != dir {
		t.Errorf("cwd %q in the status, %q in the hello; want %q", st.Cwd, g.Info().Cwd, dir)
	}
}
