package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// The receiving side of RSync (PROTOCOL.md, "RSync"). It writes outside any
// sandbox on purpose, as the hop primitives run commands: the client is
// trusted, guests are not (RATIONALE.md). What it guards against is a
// manifest that reaches outside Dest: every path must be local and clean,
// its parent must be a directory the same manifest names (created here as a
// real directory, replacing whatever was there), and every access goes
// through an os.Root opened on Dest, which refuses to leave it. A file
// already in Dest may be a hard link to one outside it, so no file is
// changed in place (written, truncated or chmod'ed): a new file takes its
// name by a rename, and only directories, which have no such links, have
// their modes changed.

// rsync checks a KindRSync request and Dest, then receives the tree on a
// goroutine that Serve waits for and that ends with the agent.
func (a *agent) rsync(body []byte) error {
	if !a.cfg.allowRSync {
		return errors.New("rsync: this agent refuses rsync" + refusedRSync)
	}
	var req wire.RSyncRequest
	if err := channel.UnmarshalInto(body, &req); err != nil {
		return fmt.Errorf("rsync: malformed request: %w", err)
	}
	if req.Dest == "" {
		return errors.New("rsync: no destination directory")
	}
	ch := a.mux.Channel(req.Channel)
	if ch == nil {
		return fmt.Errorf("rsync: channel %d is not open", req.Channel)
	}
	dest, err := filepath.Abs(req.Dest)
	if err != nil {
		return fmt.Errorf("rsync: destination %s: %w", req.Dest, err)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("rsync: destination: %w", err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return fmt.Errorf("rsync: destination: %w", err)
	}
	r := &rsyncReceiver{root: root, dest: dest, ch: ch, delete: req.Delete}
	a.execs.Add(1)
	go func() {
		defer a.execs.Done()
		defer root.Close()
		if err := r.run(a.ctx); err != nil {
			ch.CloseWithError(fmt.Sprintf("rsync to %s: %v", dest, err))
			return
		}
		ch.Close()
	}()
	return nil
}

// rsyncReceiver is one RSync into one destination.
type rsyncReceiver struct {
	root    *os.Root
	dest    string // absolute, for links into the tree
	ch      *channel.Channel
	delete  bool
	entries map[string]*wire.RSyncEntry // by path
	pending map[string]bool             // files asked for and not yet received
	sum     wire.RSyncSummary
}

func (r *rsyncReceiver) run(ctx context.Context) error {
	var manifest []wire.RSyncEntry
	if err := r.ch.ReceiveInto(ctx, &manifest); err != nil {
		return fmt.Errorf("receiving the manifest: %w", err)
	}
	var err error
	if r.entries, err = checkManifest(manifest); err != nil {
		return err
	}
	needed, err := r.apply(manifest)
	if err != nil {
		return err
	}
	if r.delete {
		if err := r.deleteExtra(); err != nil {
			return err
		}
	}
	if err := r.ch.SendContext(ctx, needed); err != nil {
		return fmt.Errorf("sending the list of needed files: %w", err)
	}
	r.pending = make(map[string]bool, len(needed))
	for _, p := range needed {
		r.pending[p] = true
	}
	for len(r.pending) > 0 {
		if err := r.receiveFile(ctx); err != nil {
			return err
		}
	}
	if err := r.fixDirModes(manifest); err != nil {
		return err
	}
	return r.ch.SendContext(ctx, &r.sum)
}

// checkManifest refuses paths that are not clean and local, duplicates,
// and entries whose parent is not a directory named earlier.
func checkManifest(m []wire.RSyncEntry) (map[string]*wire.RSyncEntry, error) {
	byPath := make(map[string]*wire.RSyncEntry, len(m))
	for i := range m {
		e := &m[i]
		if !localSlashPath(e.Path) {
			return nil, fmt.Errorf("manifest path %q is not a clean relative path inside the destination", e.Path)
		}
		if byPath[e.Path] != nil {
			return nil, fmt.Errorf("manifest path %q appears twice", e.Path)
		}
		if dir := path.Dir(e.Path); dir != "." {
			if p := byPath[dir]; p == nil || !p.Dir {
				return nil, fmt.Errorf("manifest path %q: its parent is not a directory named before it", e.Path)
			}
		}
		switch {
		case e.Dir && e.Link != "":
			return nil, fmt.Errorf("manifest path %q is both a directory and a link", e.Path)
		case e.LinkBase && !localSlashPath(e.Link):
			return nil, fmt.Errorf("manifest path %q: a link into the tree needs a clean relative target, not %q", e.Path, e.Link)
		case !e.Dir && e.Link == "" && (len(e.SHA256) != sha256.Size || e.Size < 0):
			return nil, fmt.Errorf("manifest path %q: a file needs a size and a 32-byte sha256", e.Path)
		}
		byPath[e.Path] = e
	}
	return byPath, nil
}

// localSlashPath reports whether p is a clean, slash-separated path that
// names something strictly inside a directory on this OS.
func localSlashPath(p string) bool {
	return p != "" && p != "." && path.Clean(p) == p && filepath.IsLocal(filepath.FromSlash(p))
}

// apply makes directories and links, fixes the modes of files whose
// content is already right, and returns the files whose content it needs.
// Something of another kind at a manifest path is replaced.
func (r *rsyncReceiver) apply(m []wire.RSyncEntry) ([]string, error) {
	needed := []string{}
	for i := range m {
		e := &m[i]
		name := filepath.FromSlash(e.Path)
		fi, err := r.root.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			fi, err = nil, nil
		} else if err != nil {
			return nil, err
		}
		if fi != nil && !sameKind(fi, e) {
			if err := r.root.RemoveAll(name); err != nil {
				return nil, err
			}
			fi = nil
		}
		switch {
		case e.Dir:
			// Owner access until the end, so that files can be written into
			// a directory that will be read-only; fixDirModes sets the mode.
			if fi == nil {
				err = r.root.Mkdir(name, 0o700)
			} else if fi.Mode().Perm()&0o700 != 0o700 {
				err = r.chmodDir(name, fi.Mode().Perm()|0o700)
			}
		case e.Link != "":
			err = r.link(name, fi != nil, r.linkTarget(e))
		default:
			var same bool
			if fi != nil && fi.Size() == e.Size {
				if fi.Mode().Perm() == entryPerm(e) {
					same, err = r.sameContent(name, e.SHA256)
				} else {
					same, err = r.copyWithMode(name, e)
				}
				if err != nil {
					return nil, err
				}
			}
			if !same {
				needed = append(needed, e.Path)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return needed, nil
}

// linkTarget is where e's link points on this side: a link into the tree
// points into Dest.
func (r *rsyncReceiver) linkTarget(e *wire.RSyncEntry) string {
	if e.LinkBase {
		return filepath.Join(r.dest, filepath.FromSlash(e.Link))
	}
	return e.Link
}

// link makes name a symbolic link to target, replacing the link there, if
// any, unless it points there already.
func (r *rsyncReceiver) link(name string, exists bool, target string) error {
	if exists {
		if old, _ := r.root.Readlink(name); old == target {
			return nil
		}
		if err := r.root.Remove(name); err != nil {
			return err
		}
	}
	return r.root.Symlink(target, name)
}

// sameKind reports whether fi is what e describes: a directory, a symbolic
// link or a regular file.
func sameKind(fi fs.FileInfo, e *wire.RSyncEntry) bool {
	switch {
	case e.Dir:
		return fi.IsDir()
	case e.Link != "":
		return fi.Mode()&fs.ModeSymlink != 0
	}
	return fi.Mode().IsRegular()
}

func entryPerm(e *wire.RSyncEntry) fs.FileMode { return fs.FileMode(e.Mode) & fs.ModePerm }

func (r *rsyncReceiver) sameContent(name string, sum []byte) (bool, error) {
	f, err := r.root.Open(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return bytes.Equal(h.Sum(nil), sum), nil
}

// copyWithMode puts a copy of the file name, with e's mode, in its place
// if its content is e's, and reports whether it did. A chmod in place would
// change every hard link to the file, and one may be outside Dest.
func (r *rsyncReceiver) copyWithMode(name string, e *wire.RSyncEntry) (bool, error) {
	src, err := r.root.Open(name)
	if err != nil {
		return false, err
	}
	defer src.Close()
	tmp, f, err := r.createTemp(filepath.Dir(name))
	if err != nil {
		return false, err
	}
	h := sha256.New()
	// Another link may make the file grow while it is read.
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(src, e.Size+1))
	same := err == nil && n == e.Size && bytes.Equal(h.Sum(nil), e.SHA256)
	if err == nil && same {
		err = f.Chmod(entryPerm(e))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && same {
		err = r.root.Rename(tmp, name)
	}
	if err != nil || !same {
		r.root.Remove(tmp)
		return false, err
	}
	return true, nil
}

// deleteExtra removes everything under Dest that the manifest does not
// name, counting each file, link and directory removed.
func (r *rsyncReceiver) deleteExtra() error {
	return fs.WalkDir(r.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		if r.entries[p] != nil {
			return nil
		}
		n := int64(1)
		if d.IsDir() {
			fs.WalkDir(r.root.FS(), p, func(q string, _ fs.DirEntry, err error) error {
				if err == nil && q != p {
					n++
				}
				return nil
			})
		}
		if err := r.root.RemoveAll(filepath.FromSlash(p)); err != nil {
			return err
		}
		r.sum.Deleted += n
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
}

// receiveFile receives one file, {"path": p}, bin chunks and nil, into a
// temporary file beside p, and renames it into place once its size and
// sha256 match the manifest. A file that vanished from the source since
// it was listed, {"path": p, "gone": true}, is skipped, as execnet does.
func (r *rsyncReceiver) receiveFile(ctx context.Context) error {
	v, err := r.ch.Receive(ctx)
	if err == io.EOF {
		return fmt.Errorf("the client ended the transfer with %d files unsent", len(r.pending))
	} else if err != nil {
		return err
	}
	hdr, _ := v.(map[string]any)
	p, _ := hdr["path"].(string)
	if !r.pending[p] {
		return fmt.Errorf("expected the header of a needed file, got %v", v)
	}
	delete(r.pending, p)
	if gone, _ := hdr["gone"].(bool); gone {
		return nil
	}
	e := r.entries[p]
	name := filepath.FromSlash(p)
	tmp, f, err := r.createTemp(filepath.Dir(name))
	if err != nil {
		return err
	}
	n, err := r.receiveContent(ctx, f, e)
	if err == nil {
		err = f.Chmod(entryPerm(e))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.root.Rename(tmp, name)
	}
	if err != nil {
		r.root.Remove(tmp)
		return err
	}
	r.sum.Files++
	r.sum.Bytes += n
	return nil
}

// receiveContent writes the chunks of e's content to w until the nil that
// ends them, and checks them against the manifest.
func (r *rsyncReceiver) receiveContent(ctx context.Context, w io.Writer, e *wire.RSyncEntry) (int64, error) {
	h := sha256.New()
	var n int64
	for {
		v, err := r.ch.Receive(ctx)
		if err == io.EOF {
			return n, fmt.Errorf("%s: the client ended the transfer within the file", e.Path)
		} else if err != nil {
			return n, err
		}
		switch b := v.(type) {
		case nil:
			if n != e.Size || !bytes.Equal(h.Sum(nil), e.SHA256) {
				return n, fmt.Errorf("%s: the content received does not match the manifest's size and sha256", e.Path)
			}
			return n, nil
		case []byte:
			if n += int64(len(b)); n > e.Size {
				return n, fmt.Errorf("%s: more than the manifest's %d bytes", e.Path, e.Size)
			}
			h.Write(b)
			if _, err := w.Write(b); err != nil {
				return n, err
			}
		default:
			return n, fmt.Errorf("%s: expected bytes or nil, got %T", e.Path, v)
		}
	}
}

// createTemp creates a new file in dir, named so that a person can tell
// what left it there.
func (r *rsyncReceiver) createTemp(dir string) (string, *os.File, error) {
	for {
		name := filepath.Join(dir, ".wasmnet-rsync-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := r.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			return name, f, err
		}
	}
}

// fixDirModes gives the directories their modes, deepest first, once
// nothing more is written into them.
func (r *rsyncReceiver) fixDirModes(m []wire.RSyncEntry) error {
	for i := len(m) - 1; i >= 0; i-- {
		e := &m[i]
		if !e.Dir {
			continue
		}
		name := filepath.FromSlash(e.Path)
		fi, err := r.root.Lstat(name)
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != entryPerm(e) {
			if err := r.chmodDir(name, entryPerm(e)); err != nil {
				return err
			}
		}
	}
	return nil
}

// chmodDir changes the mode of the directory name, checking on the open
// directory, not the name, that it is one: a directory has no hard links
// that could reach outside Dest, a file may have.
func (r *rsyncReceiver) chmodDir(name string, perm fs.FileMode) error {
	f, err := r.root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is no longer a directory", name)
	}
	return f.Chmod(perm)
}
