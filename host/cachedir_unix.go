//go:build unix

package host

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOwner checks one directory on the way to a cache (see PrivateDir).
func checkOwner(path string, last bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner information", path)
	}
	me := uint32(os.Getuid())
	perm := fi.Mode().Perm()
	switch {
	case st.Uid != me && st.Uid != 0:
		return fmt.Errorf("%s belongs to user %d, not to this user (%d) or root", path, st.Uid, me)
	case last && st.Uid != me:
		return fmt.Errorf("%s belongs to user %d, not to this user (%d)", path, st.Uid, me)
	case perm&0o022 != 0 && (last || fi.Mode()&fs.ModeSticky == 0):
		return fmt.Errorf("%s is writable by other users (mode %v); chmod go-w it to use it", path, fi.Mode())
	case last && perm&0o077 != 0:
		// Ours and readable by others (made before this check existed):
		// nobody else needs to read compiled code.
		return os.Chmod(path, 0o700)
	}
	return nil
}

// checkLinkOwner checks a link on the way to a cache: in a sticky
// directory such as /tmp, its owner may replace it at any time.
func checkLinkOwner(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner information", path)
	}
	if me := uint32(os.Getuid()); st.Uid != me && st.Uid != 0 {
		return fmt.Errorf("%s is a link of user %d, not of this user (%d) or root", path, st.Uid, me)
	}
	return nil
}
