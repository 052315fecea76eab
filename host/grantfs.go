package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmnet/wasmnet/internal/wire"
)

// A directory grant is mounted as a rootFS, not with wazero's
// WithDirMount: wazero's directory file system joins the guest's path to
// the host directory and lets the kernel resolve it, so a symbolic link
// inside the grant (planted beforehand, or made by the guest) leads
// anywhere the agent's user can go. os.Root resolves every path
// component itself and refuses any that leaves the directory, through
// "..", an absolute link or a relative one (RATIONALE.md, "Why are
// directory grants an os.Root?").

// grantDirs opens the directories an execution is granted, counting them
// and what the guest opens in them in files. The returned function closes
// them; it must run after the guest's module is closed.
func grantDirs(dirs []wire.DirGrant, files *execFiles) (wazero.FSConfig, func(), error) {
	fsc := wazero.NewFSConfig()
	var roots []*os.Root
	closeAll := func() {
		for _, r := range roots {
			r.Close()
			files.give()
		}
	}
	for _, d := range dirs {
		// os.OpenRoot opens without O_NONBLOCK, and a FIFO named as the
		// directory would block it until a writer came.
		if fi, err := os.Stat(d.Host); err == nil && !fi.IsDir() {
			closeAll()
			return nil, nil, fmt.Errorf("exec: directory grant %s: %s is not a directory", d.Guest, d.Host)
		}
		if err := files.take(); err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("exec: directory grant %s: %w", d.Guest, err)
		}
		root, err := os.OpenRoot(d.Host)
		if err != nil {
			files.give()
			closeAll()
			return nil, nil, fmt.Errorf("exec: directory grant %s: %w", d.Guest, err)
		}
		roots = append(roots, root)
		fsc = fsc.(sysfs.FSConfig).WithSysFSMount(&rootFS{root: root, readOnly: d.ReadOnly, files: files}, d.Guest)
	}
	return fsc, closeAll, nil
}

// rootFS is a wazero file system confined to one directory by os.Root.
// With readOnly, every call that would change the tree fails with EROFS.
type rootFS struct {
	experimentalsys.UnimplementedFS
	root     *os.Root
	readOnly bool
	files    *execFiles // what its open files count against
}

// permBits keeps a guest from making setuid, setgid or sticky files,
// which other local users could run as the agent's user.
const permBits = fs.ModePerm

const writeFlags = experimentalsys.O_WRONLY | experimentalsys.O_RDWR | experimentalsys.O_APPEND |
	experimentalsys.O_CREAT | experimentalsys.O_TRUNC

func (r *rootFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	path = rootPath(path)
	if r.readOnly && flag&writeFlags != 0 {
		if flag&experimentalsys.O_DIRECTORY != 0 {
			return nil, experimentalsys.EISDIR
		}
		return nil, experimentalsys.EROFS
	}
	if fi, err := r.root.Stat(path); err == nil && !plainFile(fi.Mode()) {
		// Refused before opening too: opening a device or a FIFO has
		// effects of its own (a writer waiting for a reader goes on).
		return nil, experimentalsys.EACCES
	}
	if flag&experimentalsys.O_NOFOLLOW != 0 && flag&experimentalsys.O_CREAT == 0 {
		// os.Root follows a last-component link when it stays inside,
		// so the guest's "not a link" is checked here.
		if fi, err := r.root.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, experimentalsys.ELOOP
		}
	}
	if err := r.files.take(); err != nil {
		return nil, experimentalsys.EIO // made EMFILE or ENFILE by instantiateWASI
	}
	opener := &rootOpener{root: r.root, flag: osFlags(flag), perm: perm & permBits}
	f, errno := (&sysfs.AdaptFS{FS: opener}).OpenFile(path, flag, perm)
	if errno != 0 {
		r.files.give()
		r.files.noteKernelRefusal(opener.err)
		return nil, rootErrno(opener.err, errno)
	}
	if flag&experimentalsys.O_DIRECTORY != 0 {
		if dir, errno := f.IsDir(); errno != 0 || !dir {
			f.Close()
			r.files.give()
			return nil, experimentalsys.ENOTDIR
		}
	}
	return &rootFile{File: f, os: opener.file, files: r.files}, 0
}

func (r *rootFS) Lstat(path string) (sys.Stat_t, experimentalsys.Errno) {
	fi, err := r.root.Lstat(rootPath(path))
	if err != nil {
		return sys.Stat_t{}, errnoOf(err)
	}
	return sys.NewStat_t(fi), 0
}

func (r *rootFS) Stat(path string) (sys.Stat_t, experimentalsys.Errno) {
	fi, err := r.root.Stat(rootPath(path))
	if err != nil {
		return sys.Stat_t{}, errnoOf(err)
	}
	return sys.NewStat_t(fi), 0
}

func (r *rootFS) Mkdir(path string, perm fs.FileMode) experimentalsys.Errno {
	if r.readOnly {
		return experimentalsys.EROFS
	}
	return errnoOf(r.root.Mkdir(rootPath(path), perm&permBits))
}

func (r *rootFS) Chmod(path string, perm fs.FileMode) experimentalsys.Errno {
	if r.readOnly {
		return experimentalsys.EROFS
	}
	return errnoOf(r.root.Chmod(rootPath(path), perm&permBits))
}

func (r *rootFS) Rename(from, to string) experimentalsys.Errno {
	if r.readOnly {
		return experimentalsys.EROFS
	}
	return errnoOf(r.root.Rename(rootPath(from), rootPath(to)))
}

func (r *rootFS) Rmdir(path string) experimentalsys.Errno {
	if r.readOnly {
		return experimentalsys.EROFS
	}
	path = rootPath(path)
	fi, err := r.root.Lstat(path)
	if err != nil {
		return errnoOf(err)
	}
	if !fi.IsDir() {
		return experimentalsys.ENOTDIR
	}
	return errnoOf(r.root.Remove(path))
}

func (r *rootFS) Unlink(path string) experimentalsys.Errno {
	if r.readOnly {
		return experimentalsys.EROFS
	}
	path = rootPath(path)
	fi, err := r.root.Lstat(path)
	if err != nil {
		return errnoOf(err)
	}
	if fi.IsDir() {
		return experimentalsys.EISDIR
	}
	return errnoOf(r.root.Remove(path))
}

func (r *rootFS) Link(oldPath, newPath string) experimentalsys.Errno {
	if r.readOnly {
		return experimentalsys.EROFS
	}
	return errnoOf(r.root.Link(rootPath(oldPath), rootPath(newPath)))
}

// Symlink makes any link the guest asks for: where it points is text
// until a lookup, and every lookup is confined.
func (r *rootFS) Symlink(oldPath, linkName string) experimentalsys.Errno {
	if r.readOnly {
		return experimentalsys.EROFS
	}
	return errnoOf(r.root.Symlink(oldPath, rootPath(linkName)))
}

func (r *rootFS) Readlink(path string) (string, experimentalsys.Errno) {
	s, err := r.root.Readlink(rootPath(path))
	if err != nil {
		return "", errnoOf(err)
	}
	return s, 0
}

func (r *rootFS) Utimens(path string, atim, mtim int64) experimentalsys.Errno {
	if r.readOnly {
		return experimentalsys.EROFS
	}
	return errnoOf(r.root.Chtimes(rootPath(path), utime(atim), utime(mtim)))
}

// utime converts a WASI time stamp; the zero time.Time tells Chtimes to
// leave that time as it is.
func utime(nanos int64) time.Time {
	if nanos == experimentalsys.UTIME_OMIT {
		return time.Time{}
	}
	return time.Unix(0, nanos)
}

// rootPath turns wazero's path, relative to the mount, into os.Root's.
func rootPath(p string) string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// rootOpener is an fs.FS whose Open opens with the flags of one
// OpenFile call, so that wazero's own file type (reads, writes,
// directory listing and rewinding) serves files opened in the root.
type rootOpener struct {
	root *os.Root
	flag int
	perm fs.FileMode
	file *os.File // the last file opened
	err  error    // the last error, for rootErrno
}

// Open opens without blocking and keeps only regular files and
// directories, whatever the name leads to by now: opening a FIFO blocks
// until its other end opens, a terminal's read until someone types, and
// no limit of the execution could end either wait (SECURITY.md, "No host
// call outlives its execution").
func (o *rootOpener) Open(name string) (fs.File, error) {
	f, err := o.root.OpenFile(name, o.flag|syscall.O_NONBLOCK|syscall.O_NOCTTY, o.perm)
	if err == nil {
		err = onlyPlain(f)
	}
	if err != nil {
		o.err = err
		return nil, err
	}
	o.file = f // a rewound directory replaces the old one, which wazero closes
	return f, nil
}

// errNotPlain refuses to open what is neither a regular file nor a
// directory.
var errNotPlain = errors.New("exec: neither a regular file nor a directory")

// onlyPlain closes f unless it is a regular file or a directory.
func onlyPlain(f *os.File) error {
	fi, err := f.Stat()
	if err == nil && !plainFile(fi.Mode()) {
		err = errNotPlain
	}
	if err != nil {
		f.Close()
	}
	return err
}

func plainFile(m fs.FileMode) bool { return m.IsRegular() || m.IsDir() }

func osFlags(flag experimentalsys.Oflag) int {
	var out int
	switch flag & (experimentalsys.O_RDONLY | experimentalsys.O_RDWR | experimentalsys.O_WRONLY) {
	case experimentalsys.O_RDWR:
		out = os.O_RDWR
	case experimentalsys.O_WRONLY:
		out = os.O_WRONLY
	}
	for _, f := range []struct {
		wasi experimentalsys.Oflag
		os   int
	}{
		{experimentalsys.O_APPEND, os.O_APPEND},
		{experimentalsys.O_CREAT, os.O_CREATE},
		{experimentalsys.O_EXCL, os.O_EXCL},
		{experimentalsys.O_TRUNC, os.O_TRUNC},
		{experimentalsys.O_SYNC | experimentalsys.O_DSYNC | experimentalsys.O_RSYNC, os.O_SYNC},
	} {
		if flag&f.wasi != 0 {
			out |= f.os
		}
	}
	return out
}

// rootFile adds to wazero's file type what it leaves unimplemented for
// an fs.File that is really an *os.File.
type rootFile struct {
	experimentalsys.File
	os     *os.File
	files  *execFiles
	closed bool // its descriptor was given back to files
}

func (f *rootFile) Close() experimentalsys.Errno {
	if !f.closed {
		f.closed = true
		f.files.give()
	}
	return f.File.Close()
}

func (f *rootFile) Truncate(size int64) experimentalsys.Errno {
	if size < 0 {
		return experimentalsys.EINVAL
	}
	return errnoOf(f.os.Truncate(size))
}

func (f *rootFile) Sync() experimentalsys.Errno     { return errnoOf(f.os.Sync()) }
func (f *rootFile) Datasync() experimentalsys.Errno { return errnoOf(f.os.Sync()) }

// errnoOf maps an os.Root error to the errno the guest sees. A path that
// would leave the root is EPERM, as wazero answers for ".." itself.
func errnoOf(err error) experimentalsys.Errno {
	if err == nil {
		return 0
	}
	if isEscape(err) {
		return experimentalsys.EPERM
	}
	return experimentalsys.UnwrapOSError(err)
}

func rootErrno(err error, errno experimentalsys.Errno) experimentalsys.Errno {
	switch {
	case err == nil:
		return errno
	case isEscape(err):
		return experimentalsys.EPERM
	case errors.Is(err, errNotPlain):
		return experimentalsys.EACCES
	case errors.Is(err, syscall.ENXIO):
		// A FIFO opened for writing that no one reads, without blocking.
		return experimentalsys.EACCES
	}
	return errno
}

// isEscape reports os.Root's refusal of a path that leaves it, an error
// the os package does not export.
func isEscape(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return err != nil && strings.Contains(err.Error(), "escapes")
}
