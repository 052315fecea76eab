package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// diskCache bounds wazero's compilation cache directory in bytes. wazero
// writes one file per compiled module and never removes one, so after each
// compilation the files used least recently are removed until the
// directory fits. wazero does not say which file a module is in: the file
// a compilation adds is recorded in an index beside wazero's files, and a
// cache load marks that file used by its modification time.
type diskCache struct {
	dir   string
	limit int64 // 0 for no bound

	log     io.Writer // where skipped says, once, that the cache is not written
	warn    sync.Once
	warning atomic.Pointer[string] // that line, until an exec reply takes it
}

// cacheIOError says whether err, returned by a compilation, is the disk
// cache's: wazero returns a failed read or write of its cache file (a full
// disk, a read-only one) as the compilation's error, which must not be
// taken for a fault of the module.
func cacheIOError(err error) bool {
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	return errors.As(err, &pathErr) || errors.As(err, &linkErr)
}

// skipped notes that the code of a compilation could not be written to the
// cache, for err: the agent runs it from memory, and says so once, as one
// full disk would otherwise warn at every module. The line goes to the
// agent's log and, as an agent's log reaches no user of popen or ssh=, to
// the client with the next exec reply (takeWarning).
func (d *diskCache) skipped(err error) {
	d.warn.Do(func() {
		line := fmt.Sprintf("wasmnet agent: compilation cache %s cannot be written, modules are compiled in memory only: %v", d.dir, err)
		if d.log != nil {
			fmt.Fprintln(d.log, line)
		}
		d.warning.Store(&line)
	})
}

// takeWarning returns the line skipped made, once, or "".
func (d *diskCache) takeWarning() string {
	if d == nil {
		return ""
	}
	if p := d.warning.Swap(nil); p != nil {
		return *p
	}
	return ""
}

// indexDir holds one small file per module and runtime kind, naming the
// cache file that holds its code.
const indexDir = "wasmnet-index"

// files returns the files wazero wrote to the cache, by path relative to
// the directory. The folders of wasmnet's own files are left out: the
// agent writes them holding compileMu, so that they never appear during a
// compilation, and listing them would cost each new agent a syscall per
// module kept. No file is stat'ed: a name is what tells a file added.
func (d *diskCache) files() map[string]bool {
	out := map[string]bool{}
	filepath.WalkDir(d.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(d.dir, p)
		if e.IsDir() {
			if rel == indexDir || rel == modulesDir || rel == preparedDir {
				return filepath.SkipDir
			}
			return nil
		}
		if e.Type().IsRegular() {
			out[rel] = true
		}
		return nil
	})
	return out
}

func (d *diskCache) walk(fn func(rel string, fi fs.FileInfo)) {
	filepath.WalkDir(d.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(d.dir, p)
		if e.IsDir() {
			if rel == indexDir {
				return filepath.SkipDir
			}
			return nil
		}
		if e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				fn(rel, fi)
			}
		}
		return nil
	})
}

// indexed returns the cache file the index names for key, and that
// file's identity, if both exist. A compilation of code whose index entry
// names a file needs no listing of the cache (files) to tell a cache load
// from a compilation: wazero either loads that file or writes it anew.
func (d *diskCache) indexed(key string) (rel string, fi os.FileInfo, ok bool) {
	b, err := os.ReadFile(filepath.Join(d.dir, indexDir, key))
	if err != nil || !filepath.IsLocal(string(b)) || strings.Contains(string(b), indexDir) {
		return "", nil, false
	}
	fi, err = os.Stat(filepath.Join(d.dir, string(b)))
	if err != nil {
		return "", nil, false
	}
	return string(b), fi, true
}

// loadedIndexed reports whether a compilation of the code indexed as rel,
// which was fi before it, loaded it from the cache; it then marks the
// file used.
func (d *diskCache) loadedIndexed(rel string, fi os.FileInfo) bool {
	path := filepath.Join(d.dir, rel)
	now, err := os.Stat(path)
	if err != nil || !os.SameFile(fi, now) {
		d.trim()
		return false
	}
	t := time.Now()
	os.Chtimes(path, t, t)
	return true
}

// compiled records what a compilation of the code indexed as key did to
// the cache, given its files before: it reports whether the compilation
// wrote a file (else the code came from the cache), and keeps the cache
// within its limit.
func (d *diskCache) compiled(key string, before map[string]bool) bool {
	var added []string
	for rel := range d.files() {
		if !before[rel] {
			added = append(added, rel)
		}
	}
	index := filepath.Join(d.dir, indexDir, key)
	if len(added) == 0 {
		if rel, err := os.ReadFile(index); err == nil && filepath.IsLocal(string(rel)) {
			now := time.Now()
			os.Chtimes(filepath.Join(d.dir, string(rel)), now, now)
		}
		return false
	}
	if len(added) == 1 {
		if err := os.MkdirAll(filepath.Dir(index), 0o700); err == nil {
			os.WriteFile(index, []byte(added[0]), 0o600)
		}
	}
	d.trim()
	return true
}

// trim removes the files used least recently until the cache fits.
func (d *diskCache) trim() {
	if d.limit <= 0 {
		return
	}
	type file struct {
		rel  string
		size int64
		used time.Time
	}
	var files []file
	var total int64
	d.walk(func(rel string, fi fs.FileInfo) {
		files = append(files, file{rel, fi.Size(), fi.ModTime()})
		total += fi.Size()
	})
	if total <= d.limit {
		return
	}
	slices.SortFunc(files, func(a, b file) int { return a.used.Compare(b.used) })
	for _, f := range files {
		if total <= d.limit {
			break
		}
		if err := os.Remove(filepath.Join(d.dir, f.rel)); err == nil || os.IsNotExist(err) {
			total -= f.size
		}
	}
	d.pruneIndex()
}

// pruneIndex removes index entries whose cache file is gone.
func (d *diskCache) pruneIndex() {
	dir := filepath.Join(d.dir, indexDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		rel, err := os.ReadFile(p)
		if err != nil || !filepath.IsLocal(string(rel)) || strings.Contains(string(rel), indexDir) {
			os.Remove(p)
			continue
		}
		if _, err := os.Lstat(filepath.Join(d.dir, string(rel))); os.IsNotExist(err) {
			os.Remove(p)
		}
	}
}
