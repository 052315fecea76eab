// Package resident names, checks and dials the private unix socket of a
// user's resident agent: one long-lived `wasmnet agent` per user, host
// and build that serves many gateways (RATIONALE.md, "Why is the resident
// agent opt-in?"). The agent side (cmd/wasmnet) and the client side
// (gateway) share it, so that both agree on names and checks.
//
// The socket is dir/r-KEY.sock, where dir is private to the user (0700)
// and KEY names the agent binary's file (device, inode, size, times), so
// that an agent of another build never answers on it. Every connection is
// checked both ways with SO_PEERCRED: the agent serves only its own user,
// and a client talks only to an agent of its own user. After that check
// the agent writes a banner line, "wasmnet-resident 1 KEY VERSION\n", and
// then speaks the wasmnet protocol as `wasmnet agent` does on stdio.
package resident

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultIdle is how long a resident agent lives without any connection,
// as OpenSSH's ControlPersist keeps a master.
const DefaultIdle = 10 * time.Minute

// ErrNotRunning is matched (errors.Is) by a dial that found no agent on
// the socket: none was started, or the one that was has ended.
var ErrNotRunning = errors.New("resident: no resident agent is running")

// ErrUnsupported is returned on systems where the peer of a unix socket
// cannot be checked.
var ErrUnsupported = errors.New("resident: resident agents need Linux (SO_PEERCRED)")

// A RefusedError reports a socket, or a directory holding it, that a
// client will not use: not a socket, a link, another user's, readable or
// writable by others, or an agent that is not this user's or this build's.
type RefusedError struct {
	Path   string
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("resident: refusing %s: %s", e.Path, e.Reason)
}

// Dir is the directory of the resident agents' sockets, locks and logs:
// wasmnet/resident in the user's cache directory ($XDG_CACHE_HOME or
// ~/.cache on Linux).
func Dir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("resident: %w", err)
	}
	return filepath.Join(dir, "wasmnet", "resident"), nil
}

// Paths are the files of the resident agent of one build.
type Paths struct {
	Dir    string
	Key    string
	Socket string // the agent listens here
	Start  string // locked by whoever checks for and starts the agent
	Live   string // locked by the agent for its whole life
	Log    string // the agent's stdout and stderr
}

// maxSocketPath is the longest path a unix socket can have on Linux: its
// address holds 108 bytes with the terminating NUL.
const maxSocketPath = 107

// CheckLength says why the socket of p cannot be used if its path is too
// long for a unix socket address.
func (p Paths) CheckLength() error {
	if len(p.Socket) > maxSocketPath {
		return fmt.Errorf("resident: socket path %s is %d bytes, more than a unix socket takes (%d): set XDG_CACHE_HOME to a shorter directory", p.Socket, len(p.Socket), maxSocketPath)
	}
	return nil
}

// PathsFor returns the paths of the resident agent with key in dir.
func PathsFor(dir, key string) Paths {
	base := filepath.Join(dir, "r-"+key)
	return Paths{Dir: dir, Key: key, Socket: base + ".sock", Start: base + ".lock", Live: base + ".live", Log: base + ".log"}
}

// bannerPrefix starts the line an agent writes on each accepted
// connection before the protocol; the 1 is this format's version.
const bannerPrefix = "wasmnet-resident 1 "

// maxBanner bounds the banner a client reads.
const maxBanner = 256

// startedPrefix starts the line `wasmnet agent --resident` prints once the
// agent listens: the key and the socket's path, which a client on another
// host cannot work out for itself.
const startedPrefix = "wasmnet-resident-socket "

// Started is the line `wasmnet agent --resident` prints for p.
func Started(p Paths) string { return startedPrefix + p.Key + " " + p.Socket + "\n" }

// ParseStarted parses a line of Started (without its newline) into the
// paths of the agent's directory and key.
func ParseStarted(line string) (Paths, error) {
	rest, ok := strings.CutPrefix(line, startedPrefix)
	key, sock, _ := strings.Cut(rest, " ")
	if !ok || len(key) != 20 || strings.Trim(key, "0123456789abcdef") != "" || !filepath.IsAbs(sock) {
		return Paths{}, fmt.Errorf("resident: not a started line: %q", line)
	}
	p := PathsFor(filepath.Dir(sock), key)
	if p.Socket != sock {
		return Paths{}, fmt.Errorf("resident: socket %s does not match key %s", sock, key)
	}
	return p, nil
}

// Banner is the line an agent of key and version writes first.
func Banner(key, version string) string { return bannerPrefix + key + " " + version + "\n" }
