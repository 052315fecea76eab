package gateway

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/sshdtest"
)

// TestSSHSetupFailures: a remote host that cannot take the agent says why,
// in the bootstrap's words and with the remote stderr, not "EOF".
func TestSSHSetupFailures(t *testing.T) {
	sshdtest.Standin(t) // built with the real HOME's build cache
	t.Run("cache-is-a-file", func(t *testing.T) {
		// A cache that cannot be used is no failure by itself: the agent
		// runs from a private temporary directory. Only when that cannot be
		// made either does the setup fail, saying both why.
		s := sshdtest.Start(t)
		s.ClientHome(t, true, true)
		os.WriteFile(filepath.Join(s.RemoteHome, ".cache"), []byte("not a directory"), 0o644)
		l, _, err := dialTest(t, "ssh="+s.User+"@"+s.Addr())
		if err != nil {
			t.Fatalf("no cache and a temporary directory: %v", err)
		}
		closeAndWait(t, l)
		_, _, err = dialTest(t, "ssh="+s.User+"@"+s.Addr()+"//env:TMPDIR=/nonexistent-wasmnet-tmp")
		if !errors.Is(err, ErrUploadFailed) || !strings.Contains(err.Error(), "no private directory for the agent") ||
			!strings.Contains(err.Error(), "is not private to this user") || strings.Contains(err.Error(), "EOF") {
			t.Fatalf("got %v; want the script's reason and why the cache was refused", err)
		}
		t.Log(err)
	})
	t.Run("no-gzip", func(t *testing.T) {
		s := sshdtest.Start(t)
		s.ClientHome(t, true, true)
		bin := toolDir(t, "ls", "mkdir", "mktemp", "head", "sha256sum", "chmod", "mv", "rm", "wc", "uname", "find", "id")
		_, _, err := dialTest(t, "ssh="+s.User+"@"+s.Addr()+"//env:PATH="+bin)
		if !errors.Is(err, ErrUploadFailed) || !strings.Contains(err.Error(), "no gzip on the remote PATH ("+bin+")") {
			t.Fatalf("got %v; want it to say that gzip is missing", err)
		}
		t.Log(err)
	})
	t.Run("upload-cut", func(t *testing.T) {
		// The script ends while the client still writes the agent: the
		// error is the script's last word and the remote stderr.
		s := sshdtest.Start(t)
		s.ClientHome(t, true, true)
		bin := toolDir(t, "ls", "mkdir", "mktemp", "gzip", "sha256sum", "chmod", "mv", "rm", "wc", "uname", "find", "id")
		os.WriteFile(filepath.Join(bin, "head"), []byte("#!/bin/sh\necho 'head: simulated read error' >&2\nexit 1\n"), 0o755)
		_, _, err := dialTest(t, "ssh="+s.User+"@"+s.Addr()+"//env:PATH="+bin)
		if !errors.Is(err, ErrUploadFailed) || !strings.Contains(err.Error(), "gzip -dc failed") ||
			!strings.Contains(err.Error(), "simulated read error") {
			t.Fatalf("got %v; want the script's reason and the remote stderr", err)
		}
		t.Log(err)
	})
	t.Run("timeout", func(t *testing.T) {
		s := sshdtest.Start(t, `ForceCommand sleep 60`)
		s.ClientHome(t, true, true)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _, err := dialSSH(ctx, sshSpec(t, "ssh="+s.User+"@"+s.Addr()), standinAgent(t), nil, nil)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out while waiting for the remote shell") ||
			errors.Is(err, ErrNoPOSIXShell) || strings.Contains(err.Error(), "POSIX") {
			t.Fatalf("got %v; want a timeout that does not blame the shell", err)
		}
		t.Log(err)
	})
}

// TestSSHCorruptCachedAgent truncates the cached agent: the next connect
// uploads it again instead of running the broken one.
func TestSSHCorruptCachedAgent(t *testing.T) {
	sshdtest.Standin(t)
	s := sshdtest.Start(t)
	s.ClientHome(t, true, true)
	spec := "ssh=" + s.User + "@" + s.Addr()
	l, rep, err := dialTest(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	closeAndWait(t, l)
	fi, err := os.Stat(rep.Agent)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(rep.Agent, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	l, rep2, err := dialTest(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !rep2.Uploaded || !rep2.Replaced || rep2.Agent != rep.Agent {
		t.Errorf("report %+v after truncating the cached agent; want it replaced", rep2)
	}
	if fi2, _ := os.Stat(rep.Agent); fi2 == nil || fi2.Size() != fi.Size() {
		t.Errorf("cached agent not restored to %d bytes", fi.Size())
	}
	closeAndWait(t, l)
	l, rep3, err := dialTest(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	if rep3.Uploaded {
		t.Errorf("third connect uploaded again: %+v", rep3)
	}
	closeAndWait(t, l)
}

// toolDir returns a directory of links to the named tools, for a PATH
// that lacks the others.
func toolDir(t *testing.T, tools ...string) string {
	t.Helper()
	bin := t.TempDir()
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s: %v (apt-get install coreutils gzip)", tool, err)
		}
		os.Symlink(p, filepath.Join(bin, tool))
	}
	return bin
}

// TestSSHGroupWritableHome: a login whose HOME a group can write to (so
// another user can swap ~/.cache between the boot script's check and its
// exec) gets an agent from a private temporary directory, not from the
// cache, through a real sshd (issue 23.8).
func TestSSHGroupWritableHome(t *testing.T) {
	sshdtest.Standin(t)
	s := sshdtest.Start(t)
	s.ClientHome(t, true, true)
	if err := os.Chmod(s.RemoteHome, 0o775); err != nil {
		t.Fatal(err)
	}
	l, rep, err := dialTest(t, "ssh="+s.User+"@"+s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	closeAndWait(t, l)
	if !rep.Uploaded || strings.HasPrefix(rep.Agent, s.RemoteHome) {
		t.Errorf("report %+v: want an upload outside the group-writable %s", rep, s.RemoteHome)
	}
}
