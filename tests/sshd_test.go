package tests

// An OpenSSH sshd on 127.0.0.1 for end-to-end tests of ssh= gateways. The
// server itself lives in internal/sshdtest so that gateway's own tests, which
// reach the unexported transport, start it the same way.

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/sshdtest"
)

// sshServer is a running sshd: Addr(), User, UserKey (a private key it
// accepts), KnownHostsLine(), RemoteHome (its sessions' HOME, so each server
// has its own agent cache), Log(), and ClientHome(t, known, withKey) to
// point $HOME at a fresh client side with known_hosts and id_ed25519.
type sshServer struct{ *sshdtest.Server }

// startSSHD starts /usr/sbin/sshd -D -e on a free port of 127.0.0.1 with a
// host key, a user key and authorized_keys made for the test, StrictModes
// and PAM off and root logins allowed; t.Cleanup stops it. It fails (does not
// skip) when sshd is missing.
func startSSHD(t *testing.T) *sshServer {
	t.Helper()
	return &sshServer{sshdtest.Start(t)}
}

// TestSSHDFixture logs in with OpenSSH's own client, so that a failure of
// the gateway's ssh tests can be told apart from a broken fixture.
func TestSSHDFixture(t *testing.T) {
	s := startSSHD(t)
	home := s.ClientHome(t, true, true)
	ssh, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatalf("ssh client missing (apt-get install -y openssh-client): %v", err)
	}
	cmd := exec.Command(ssh, "-F", "none", "-p", s.Port, "-i", s.UserKey,
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile="+filepath.Join(home, ".ssh", "known_hosts"),
		s.User+"@"+s.Host, `echo "ok $HOME"`)
	out, err := cmd.CombinedOutput()
	if want := "ok " + s.RemoteHome; err != nil || strings.TrimSpace(string(out)) != want {
		t.Fatalf("ssh: %v: %q; want %q\nsshd log:\n%s", err, out, want, s.Log())
	}
}
