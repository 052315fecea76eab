package resident

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Key names the build of the agent binary whose file fi describes: its
// device, inode, size and modification and change times. Any rebuild or
// replacement changes it, and it costs a stat, where a sha256 of the
// binary would cost tens of milliseconds on every client start.
func Key(fi os.FileInfo) (string, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", fmt.Errorf("resident: %s: no file identity", fi.Name())
	}
	id := fmt.Sprintf("%d:%d:%d:%d:%d", st.Dev, st.Ino, st.Size, st.Mtim.Nano(), st.Ctim.Nano())
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:10]), nil
}

// CheckDir checks the directory of the sockets without following a link:
// it must be a directory of this user's that no one else may read or
// write. The agent checks every directory above it when it starts
// (host.PrivateDir); a client relies on SO_PEERCRED for the rest.
func CheckDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if err := checkMode(fi, fs.ModeDir); err != nil {
		return &RefusedError{Path: dir, Reason: err.Error()}
	}
	return nil
}

// checkMode checks that fi is of type typ (no link), this user's, and
// neither readable nor writable by anyone else.
func checkMode(fi os.FileInfo, typ fs.FileMode) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.Mode().Type() != typ:
		return fmt.Errorf("it is a %v, not a %v", describe(fi.Mode().Type()), describe(typ))
	case !ok:
		return errors.New("no owner information")
	case int(st.Uid) != os.Getuid():
		return fmt.Errorf("it belongs to user %d, not to this user (%d)", st.Uid, os.Getuid())
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("other users may use it (mode %v)", fi.Mode())
	}
	return nil
}

func describe(t fs.FileMode) string {
	switch t {
	case fs.ModeDir:
		return "directory"
	case fs.ModeSocket:
		return "socket"
	case fs.ModeSymlink:
		return "symbolic link"
	case 0:
		return "regular file"
	}
	return "special file (" + t.String() + ")"
}

// Dial connects to the resident agent of p, checks that it runs as this
// user and is of p.Key's build, and returns the connection after its
// banner. No agent there is ErrNotRunning; anything planted is a
// *RefusedError. ctx bounds the dial and the banner.
func Dial(ctx context.Context, p Paths) (*Conn, error) {
	if err := p.CheckLength(); err != nil {
		return nil, err
	}
	if err := CheckDir(p.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotRunning
	} else if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(p.Socket)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotRunning
	} else if err != nil {
		return nil, fmt.Errorf("resident: %w", err)
	}
	if err := checkMode(fi, fs.ModeSocket); err != nil {
		return nil, &RefusedError{Path: p.Socket, Reason: err.Error()}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", p.Socket)
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
		return nil, fmt.Errorf("%w (%v)", ErrNotRunning, err)
	} else if err != nil {
		return nil, fmt.Errorf("resident: %w", err)
	}
	uc := c.(*net.UnixConn)
	conn, err := handshake(ctx, uc, p)
	if err != nil {
		uc.Close()
		return nil, err
	}
	return conn, nil
}

// handshake checks the agent's user and reads its banner.
func handshake(ctx context.Context, uc *net.UnixConn, p Paths) (*Conn, error) {
	cred, err := PeerCred(uc)
	if err != nil {
		return nil, err
	}
	if int(cred.Uid) != os.Getuid() {
		return nil, &RefusedError{Path: p.Socket, Reason: fmt.Sprintf("the agent on it runs as user %d, not as this user (%d)", cred.Uid, os.Getuid())}
	}
	version, err := ReadBanner(ctx, uc, p)
	if err != nil {
		return nil, err
	}
	return &Conn{UnixConn: uc, PID: int(cred.Pid), Version: version}, nil
}

// ReadBanner reads the banner of the resident agent of p on c, within ctx
// and at most 10 s, and returns the agent's version. An agent of another
// build is a *RefusedError; one that closed c at once, as an agent that
// is idling out does, is ErrNotRunning.
func ReadBanner(ctx context.Context, c net.Conn, p Paths) (version string, err error) {
	dl := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	c.SetReadDeadline(dl)
	line, err := readLine(c, maxBanner)
	c.SetReadDeadline(time.Time{})
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return "", fmt.Errorf("%w (it closed the connection: it is ending)", ErrNotRunning)
	} else if err != nil {
		return "", fmt.Errorf("resident: %s: reading the agent's banner: %w", p.Socket, err)
	}
	rest, ok := strings.CutPrefix(line, bannerPrefix)
	key, version, _ := strings.Cut(rest, " ")
	if !ok || key != p.Key {
		return "", &RefusedError{Path: p.Socket, Reason: fmt.Sprintf("the agent on it is not of this build (banner %q, want key %s)", line, p.Key)}
	}
	return version, nil
}

// readLine reads up to max bytes up to a newline, one byte at a time so
// that nothing after it, the agent's hello, is taken from the connection.
func readLine(c net.Conn, max int) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < max {
		if _, err := c.Read(one); err != nil {
			return "", err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
	return "", fmt.Errorf("no newline in the first %d bytes", max)
}

// PeerCred returns the user and process at the other end of c, as the
// kernel recorded them when the connection was made.
func PeerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("resident: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("resident: %w", err)
	}
	if credErr != nil {
		return nil, fmt.Errorf("resident: SO_PEERCRED: %w", credErr)
	}
	return cred, nil
}

// A Conn is a client's connection to a resident agent. Whether a failed
// read or write means that the agent died is for its user to ask
// (Exiting): the gateway reports it as it does for a shared agent.
type Conn struct {
	*net.UnixConn
	PID     int    // the agent's process
	Version string // the agent's version, from its banner
}

// pfExiting is the kernel's PF_EXITING flag, in /proc/PID/stat's ninth
// field: set when a process starts to exit, before its files (the
// connection) are closed, so a read that saw the end from a dying agent
// sees the flag too.
const pfExiting = 0x4

// Exiting reports whether process pid is gone or on its way out.
func Exiting(pid int) bool {
	exiting, _ := State(pid)
	return exiting
}

// State reads /proc/PID/stat once and reports whether process pid is gone
// or on its way out, and whether it is stopped (SIGSTOP, a debugger).
func State(pid int) (exiting, stopped bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true, false
	}
	// The command name, in parentheses, may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return false, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 7 {
		return false, false
	}
	switch f[0] {
	case "Z", "X":
		return true, false
	case "T", "t":
		stopped = true
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	return err == nil && flags&pfExiting != 0, stopped
}

// Lock takes an exclusive flock on path (created 0600, never through a
// link), waiting within ctx if wait is set, and returns its release.
func Lock(ctx context.Context, path string, wait bool) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("resident: lock: %w", err)
	}
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || !wait {
			f.Close()
			return nil, fmt.Errorf("resident: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("resident: lock %s: %w", path, ctx.Err())
		case <-time.After(pause):
		}
	}
}
