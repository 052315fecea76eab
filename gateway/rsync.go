package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// An RSyncOption configures RSync.
type RSyncOption func(*rsyncConfig)

type rsyncConfig struct {
	delete  bool
	filter  func(relPath string, d fs.DirEntry) bool
	onFile  func(gw *Gateway, dest, relPath string)
	onEvent func(RSyncEvent)
}

// WithDelete removes from the destination every file, link and directory
// that the source does not have, or that the filter left out.
func WithDelete() RSyncOption { return func(c *rsyncConfig) { c.delete = true } }

// WithFilter sends only the entries for which keep returns true; relPath
// is slash-separated and relative to the source directory. A directory left
// out is left out with everything below it. By default everything is sent.
func WithFilter(keep func(relPath string, d fs.DirEntry) bool) RSyncOption {
	return func(c *rsyncConfig) { c.filter = keep }
}

// RSyncStats says what one agent received: the files whose content was
// sent (those it lacked or that differed), their bytes, and the paths that
// WithDelete removed.
type RSyncStats struct {
	Files, Bytes, Deleted int64
}

// RSync copies the directory tree srcDir into destDir on the agent, as
// execnet's RSync does: directories, regular files with their permission
// bits, and symbolic links as links (other kinds are skipped). The agent
// receives only the files it lacks or whose size or sha256 differ; each is
// written beside its place and renamed into it. A relative destDir is
// relative to the agent's working directory; it is created if missing.
// ctx bounds the whole transfer. An error the agent reports is a
// *channel.RemoteError.
func (g *Gateway) RSync(ctx context.Context, srcDir, destDir string, opts ...RSyncOption) (RSyncStats, error) {
	cfg := newRSyncConfig(opts)
	m, err := buildManifest(srcDir, cfg.filter)
	if err != nil {
		return RSyncStats{}, fmt.Errorf("gateway %s: rsync: %w", g.id, err)
	}
	return g.rsync(ctx, m, destDir, cfg)
}

// RSync copies srcDir into destDir on every gateway of the group, in
// parallel, as Gateway.RSync does; the source is read and hashed once. It
// returns the stats of the gateways that succeeded, by id, and the errors
// of the others joined, each naming its gateway.
func (g *Group) RSync(ctx context.Context, srcDir, destDir string, opts ...RSyncOption) (map[string]RSyncStats, error) {
	gws := g.Gateways()
	if len(gws) == 0 {
		return nil, errors.New("gateway: group: rsync: the group has no gateways")
	}
	cfg := newRSyncConfig(opts)
	m, err := buildManifest(srcDir, cfg.filter)
	if err != nil {
		return nil, fmt.Errorf("gateway: group: rsync: %w", err)
	}
	stats := make([]RSyncStats, len(gws))
	errs := make([]error, len(gws))
	var wg sync.WaitGroup
	for i, gw := range gws {
		wg.Go(func() { stats[i], errs[i] = gw.rsync(ctx, m, destDir, cfg) })
	}
	wg.Wait()
	out := make(map[string]RSyncStats, len(gws))
	for i, gw := range gws {
		if errs[i] == nil {
			out[gw.id] = stats[i]
		}
	}
	return out, errors.Join(errs...)
}

func newRSyncConfig(opts []RSyncOption) *rsyncConfig {
	var cfg rsyncConfig
	for _, o := range opts {
		o(&cfg)
	}
	// Targets run in parallel; their callbacks take turns.
	var mu sync.Mutex
	if fn := cfg.onFile; fn != nil {
		cfg.onFile = func(gw *Gateway, dest, p string) {
			mu.Lock()
			defer mu.Unlock()
			fn(gw, dest, p)
		}
	}
	if fn := cfg.onEvent; fn != nil {
		cfg.onEvent = func(ev RSyncEvent) {
			mu.Lock()
			defer mu.Unlock()
			fn(ev)
		}
	}
	return &cfg
}

// A manifest is a source tree as RSync describes it to agents.
type manifest struct {
	src     string
	entries []wire.RSyncEntry
	files   map[string]*wire.RSyncEntry // regular files by path
}

// buildManifest walks src, hashing every regular file, parents before
// their children. What vanishes while it is listed is left out, as execnet
// does.
func buildManifest(src string, keep func(string, fs.DirEntry) bool) (*manifest, error) {
	given, err := filepath.Abs(src)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	root, err := filepath.EvalSymlinks(src)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if fi, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("source %s is not a directory", src)
	}
	m := &manifest{src: root, files: map[string]*wire.RSyncEntry{}}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p != root {
			return nil
		}
		if err != nil || p == root {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if keep != nil && !keep(rel, d) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		e, err := manifestEntry(p, rel, d, []string{root, given})
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || e == nil {
			return err
		}
		m.entries = append(m.entries, *e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	for i := range m.entries {
		if e := &m.entries[i]; !e.Dir && e.Link == "" {
			m.files[e.Path] = e
		}
	}
	return m, nil
}

// manifestEntry describes the file at p, or returns nil for a kind RSync
// does not copy (devices, sockets, pipes). An absolute link to a path
// below one of the source's names (srcs) becomes a link into the tree.
func manifestEntry(p, rel string, d fs.DirEntry, srcs []string) (*wire.RSyncEntry, error) {
	fi, err := d.Info()
	if err != nil {
		return nil, err
	}
	e := &wire.RSyncEntry{Path: rel, Mode: uint32(fi.Mode().Perm())}
	switch {
	case fi.IsDir():
		e.Dir = true
	case fi.Mode()&fs.ModeSymlink != 0:
		if e.Link, err = os.Readlink(p); err != nil {
			return nil, err
		}
		e.Mode = 0
		e.Link, e.LinkBase = linkIntoTree(e.Link, srcs)
	case fi.Mode().IsRegular():
		if e.Size, e.SHA256, err = hashFile(p); err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	return e, nil
}

// linkIntoTree returns target relative to the first of srcs it is below,
// slash-separated, and true; or target and false if it is relative or
// points elsewhere (the source itself, or outside it), as execnet keeps
// those links as they are.
func linkIntoTree(target string, srcs []string) (string, bool) {
	if !filepath.IsAbs(target) {
		return target, false
	}
	for _, src := range srcs {
		if rel, err := filepath.Rel(src, target); err == nil && rel != "." && filepath.IsLocal(rel) {
			return filepath.ToSlash(rel), true
		}
	}
	return target, false
}

func hashFile(p string) (int64, []byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", p, err)
	}
	return n, h.Sum(nil), nil
}

// rsync sends m to the agent, which writes it into dest.
func (g *Gateway) rsync(ctx context.Context, m *manifest, dest string, cfg *rsyncConfig) (RSyncStats, error) {
	g.tr.Printf("gateway %s: rsync %s to %s: %d entries", g.id, m.src, dest, len(m.entries))
	st, err := g.transfer(ctx, m, dest, cfg)
	g.tr.Printf("gateway %s: rsync to %s: %+v, err %v", g.id, dest, st, err)
	if err != nil {
		return RSyncStats{}, fmt.Errorf("gateway %s: rsync to %s: %w", g.id, dest, err)
	}
	return st, nil
}

// transfer runs the protocol of PROTOCOL.md's "RSync" on a new channel.
func (g *Gateway) transfer(ctx context.Context, m *manifest, dest string, cfg *rsyncConfig) (_ RSyncStats, err error) {
	ch, err := g.mux.OpenChannel()
	if err != nil {
		return RSyncStats{}, err
	}
	defer func() {
		if err == nil {
			ch.Close()
			return
		}
		// The agent's reason, when it closed the channel with one, says
		// more than a failed send; a failure of ours stops the agent.
		var remote *channel.RemoteError
		if !errors.As(err, &remote) && ch.IsClosed() {
			if cause := ch.WaitClose(context.Background()); errors.As(cause, &remote) {
				err = remote
			}
		}
		ch.CloseWithError("rsync: client: " + err.Error())
	}()
	body, err := msgpack.Marshal(&wire.RSyncRequest{Channel: ch.ID(), Dest: dest, Delete: cfg.delete})
	if err != nil {
		return RSyncStats{}, err
	}
	if _, err := g.mux.Call(ctx, wire.KindRSync, body); err != nil {
		return RSyncStats{}, err
	}
	if err := ch.SendContext(ctx, m.entries); err != nil {
		return RSyncStats{}, fmt.Errorf("sending the manifest: %w", err)
	}
	var needed []string
	if err := ch.ReceiveInto(ctx, &needed); err != nil {
		return RSyncStats{}, err
	}
	if err := m.reportList(g, dest, needed, cfg); err != nil {
		return RSyncStats{}, err
	}
	chunk := make([]byte, min(rsyncChunk, g.mux.Peer().MaxFrame-16))
	for _, p := range needed {
		gone, err := m.sendFile(ctx, ch, p, chunk)
		if err != nil {
			return RSyncStats{}, err
		}
		if gone {
			continue
		}
		if cfg.onFile != nil {
			cfg.onFile(g, dest, p)
		}
		if cfg.onEvent != nil {
			cfg.onEvent(RSyncEvent{Kind: RSyncSent, Gateway: g, Dest: dest, Path: p, Size: m.files[p].Size})
		}
	}
	var sum wire.RSyncSummary
	if err := ch.ReceiveInto(ctx, &sum); err != nil {
		return RSyncStats{}, err
	}
	return RSyncStats{Files: sum.Files, Bytes: sum.Bytes, Deleted: sum.Deleted}, nil
}

// rsyncChunk is the largest piece of a file in one message.
const rsyncChunk = 1 << 20

// reportList checks that the agent asked only for files of m and tells
// cfg's progress callback their total size.
func (m *manifest) reportList(g *Gateway, dest string, needed []string, cfg *rsyncConfig) error {
	var total int64
	for _, p := range needed {
		e := m.files[p]
		if e == nil {
			return fmt.Errorf("the agent asked for %q, which is no file of the manifest", p)
		}
		total += e.Size
	}
	if cfg.onEvent != nil {
		cfg.onEvent(RSyncEvent{Kind: RSyncList, Gateway: g, Dest: dest, Size: total})
	}
	return nil
}

// sendFile sends the file p of m as {"path": p}, chunks read from disk
// into buf, and nil; or, if it vanished since it was listed, as
// {"path": p, "gone": true}, and reports that it did.
func (m *manifest) sendFile(ctx context.Context, ch *channel.Channel, p string, buf []byte) (gone bool, err error) {
	e := m.files[p]
	f, err := os.Open(filepath.Join(m.src, filepath.FromSlash(p)))
	if errors.Is(err, fs.ErrNotExist) {
		return true, ch.SendContext(ctx, map[string]any{"path": p, "gone": true})
	} else if err != nil {
		return false, err
	}
	defer f.Close()
	return false, m.sendContent(ctx, ch, f, e, buf)
}

// sendContent sends the header of e's file, chunks of f read into buf, and
// nil.
func (m *manifest) sendContent(ctx context.Context, ch *channel.Channel, f *os.File, e *wire.RSyncEntry, buf []byte) error {
	if err := ch.SendContext(ctx, map[string]any{"path": e.Path}); err != nil {
		return err
	}
	var n int64
	for {
		k, rerr := io.ReadFull(f, buf)
		if n += int64(k); n > e.Size {
			return fmt.Errorf("%s grew since the manifest was made", f.Name())
		}
		if k > 0 {
			if err := ch.SendContext(ctx, buf[:k]); err != nil {
				return err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		} else if rerr != nil {
			return rerr
		}
	}
	if n != e.Size {
		return fmt.Errorf("%s shrank since the manifest was made", f.Name())
	}
	return ch.SendContext(ctx, nil)
}
