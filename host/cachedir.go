package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A cache of compiled machine code is code the agent runs: whoever can
// write to it, or replace a directory above it, runs code as the agent's
// user. A cache directory is therefore used only if it and every directory
// above it are safe from other users (RATIONALE.md, "Why is a cache
// directory checked before use?").

// maxLinks bounds the symbolic links followed while checking one path.
const maxLinks = 40

// PrivateDir creates dir, and any missing directory above it, with mode
// 0700, and checks, without trusting any link it did not check, that no
// other user can change what dir holds: every directory on the way is
// owned by this user or root (links too), and writable by no one else
// unless it is sticky (as /tmp is); dir itself is this
// user's and writable by no one else (it is made 0700 if it was merely
// readable by others). The error says which directory failed which test.
//
// On systems without Unix owners and modes (Windows) it only creates dir.
func PrivateDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("host: cache directory %s: %w", dir, err)
	}
	if err := checkPrivate(abs, 0); err != nil {
		return fmt.Errorf("host: cache directory %s: %w", dir, err)
	}
	return nil
}

func checkPrivate(dir string, links int) error {
	vol := filepath.VolumeName(dir)
	rest := dir[len(vol):]
	cur := vol + string(filepath.Separator)
	if err := checkOwner(cur, false); err != nil {
		return err
	}
	parts := splitPath(rest)
	for i, name := range parts {
		next := filepath.Join(cur, name)
		last := i == len(parts)-1
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(next, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			fi, err = os.Lstat(next)
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			// A link is as safe as the directory it is in, checked
			// above; what it points to is checked from the start.
			if err := checkLinkOwner(next); err != nil {
				return err
			}
			if links >= maxLinks {
				return fmt.Errorf("%s: too many links", next)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return err
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(cur, target)
			}
			return checkPrivate(filepath.Join(append([]string{target}, parts[i+1:]...)...), links+1)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", next)
		}
		if err := checkOwner(next, last); err != nil {
			return err
		}
		cur = next
	}
	return nil
}

func splitPath(p string) []string {
	var parts []string
	for _, s := range strings.Split(filepath.ToSlash(p), "/") {
		if s != "" && s != "." {
			parts = append(parts, s)
		}
	}
	return parts
}
