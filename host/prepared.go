package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Prepared modules: what an agent makes of a module before wazero
// compiles it (the code split from its memory image, then instrumented;
// the image; the names of its mutable globals) is kept on disk beside the
// module's bytes, so that the next agent process on the machine (every
// popen gateway is one) starts the module without reading and hashing its
// bytes, splitting it or instrumenting it again (RATIONALE.md, "Why does
// an agent keep prepared modules on disk?").
//
// A prepared module is two files in preparedDir, named by the module's
// sum and by the agent's identity (its executable and the settings the
// preparation depends on), so that agents of different builds on one
// machine neither use nor overwrite each other's:
//
//	<sum>-<id>.code: preparedMagic, a version, the CRC-32C of the rest of
//	    the file, then the identity, the flags, the globals, the size
//	    and CRC-32C of the image file, and the code.
//	<sum>-<id>.mem: the memory image, page-aligned, with holes for its
//	    zero pages; an execution maps it copy-on-write.
//
// The files are written once (a temporary file renamed) and never
// changed; a file whose checksums do not match is removed and the module
// prepared again from its bytes.

const (
	preparedDir     = "prepared"
	preparedMagic   = "wasmnetP"
	preparedVersion = 1
	// maxPreparedHeader bounds the identity and globals read back.
	maxPreparedHeader = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// preparedModule is a module as it is prepared for compiling.
type preparedModule struct {
	code    []byte // instrumented code, without data
	image   *moduleImage
	mapping []byte // what holds code, to drop from memory once compiled
	release func() // gives back code's memory; nil when the heap holds it
}

// preparedIdentity names what a prepared module depends on besides the
// module: the agent's build (its executable, by path, size and time),
// how guests are made stoppable, and the largest image the agent makes.
// It is "" where the executable cannot be found: such an agent prepares
// every module itself.
func preparedIdentity(stop StopMechanism, maxImage uint64) string {
	if !preparedSupported {
		return ""
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s %s/%s exe=%s size=%d mtime=%d stop=%d budget=%d maximage=%d",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, exe, fi.Size(), fi.ModTime().UnixNano(),
		stop, yieldBudget, maxImage)
}

// preparedPaths returns the two files of module sum's prepared form.
func (s *moduleStore) preparedPaths(sum string) (code, mem string, ok bool) {
	if s.identity == "" {
		return "", "", false
	}
	if _, ok := s.modulePath(sum); !ok {
		return "", "", false
	}
	id := sha256.Sum256([]byte(s.identity))
	base := filepath.Join(s.cacheDir, preparedDir, sum+"-"+hex.EncodeToString(id[:8]))
	return base + ".code", base + ".mem", true
}

// preparedHeader is the part of a .code file before the code.
type preparedHeader struct {
	identity string
	reactor  bool
	image    bool // false: the module runs without an image
	globals  []string
	memSize  uint64
	memCRC   uint32
}

func (h *preparedHeader) append(b []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(h.identity)))
	b = append(b, h.identity...)
	b = append(b, boolByte(h.reactor), boolByte(h.image))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(h.globals)))
	for _, g := range h.globals {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(g)))
		b = append(b, g...)
	}
	b = binary.LittleEndian.AppendUint64(b, h.memSize)
	return binary.LittleEndian.AppendUint32(b, h.memCRC)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

var errPrepared = errors.New("host: prepared module: malformed")

// parsePreparedCode checks a .code file and returns its header and code.
func parsePreparedCode(b []byte) (*preparedHeader, []byte, error) {
	const fixed = len(preparedMagic) + 8
	if len(b) < fixed || string(b[:len(preparedMagic)]) != preparedMagic {
		return nil, nil, errPrepared
	}
	if binary.LittleEndian.Uint32(b[len(preparedMagic):]) != preparedVersion {
		return nil, nil, errPrepared
	}
	if binary.LittleEndian.Uint32(b[len(preparedMagic)+4:]) != crc32.Checksum(b[fixed:], castagnoli) {
		return nil, nil, errors.New("host: prepared module: checksum mismatch")
	}
	r := b[fixed:]
	next := func(n uint64) ([]byte, bool) {
		if n > uint64(len(r)) {
			return nil, false
		}
		out := r[:n]
		r = r[n:]
		return out, true
	}
	u32 := func() (uint32, bool) {
		v, ok := next(4)
		if !ok {
			return 0, false
		}
		return binary.LittleEndian.Uint32(v), true
	}
	str := func() (string, bool) {
		n, ok := u32()
		if !ok || n > maxPreparedHeader {
			return "", false
		}
		v, ok := next(uint64(n))
		return string(v), ok
	}
	var h preparedHeader
	var ok bool
	if h.identity, ok = str(); !ok {
		return nil, nil, errPrepared
	}
	flags, ok := next(2)
	if !ok {
		return nil, nil, errPrepared
	}
	h.reactor, h.image = flags[0] == 1, flags[1] == 1
	n, ok := u32()
	if !ok || n > maxPreparedHeader/4 {
		return nil, nil, errPrepared
	}
	for range n {
		g, ok := str()
		if !ok {
			return nil, nil, errPrepared
		}
		h.globals = append(h.globals, g)
	}
	size, ok := next(8)
	if !ok {
		return nil, nil, errPrepared
	}
	h.memSize = binary.LittleEndian.Uint64(size)
	if h.memCRC, ok = u32(); !ok {
		return nil, nil, errPrepared
	}
	return &h, r, nil
}

// newPreparedCode returns the contents of a .code file.
func newPreparedCode(h *preparedHeader, code []byte) []byte {
	b := make([]byte, 0, 16+len(h.identity)+64+len(code))
	b = append(b, preparedMagic...)
	b = binary.LittleEndian.AppendUint32(b, preparedVersion)
	b = binary.LittleEndian.AppendUint32(b, 0) // the checksum, below
	b = h.append(b)
	b = append(b, code...)
	binary.LittleEndian.PutUint32(b[len(preparedMagic)+4:], crc32.Checksum(b[len(preparedMagic)+8:], castagnoli))
	return b
}

// writeFileOnce writes path atomically, unless it exists.
func writeFileOnce(path string, write func(f *os.File) error) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	err = write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// keepPrepared writes module sum's prepared form: code, instrumented, and
// its image. A failure only means the next agent prepares the module
// itself. The image file is written first: a .code file is only ever
// found beside the image it names.
func (s *moduleStore) keepPrepared(sum string, code []byte, img *moduleImage) error {
	codePath, memPath, ok := s.preparedPaths(sum)
	if !ok {
		return nil
	}
	h := &preparedHeader{identity: s.identity}
	if img != nil {
		h.image, h.reactor, h.globals = true, img.reactor, img.globals
		size, crc, err := writeMemImage(memPath, img.data)
		if err != nil {
			return fmt.Errorf("host: keep prepared module: %w", err)
		}
		h.memSize, h.memCRC = size, crc
	}
	b := newPreparedCode(h, code)
	err := writeFileOnce(codePath, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
	if err != nil {
		return fmt.Errorf("host: keep prepared module: %w", err)
	}
	return nil
}

// loadPrepared returns module sum's prepared form, or nil when there is
// none that this agent made and that is intact. A damaged one is removed.
func (s *moduleStore) loadPrepared(sum string) *preparedModule {
	codePath, memPath, ok := s.preparedPaths(sum)
	if !ok {
		return nil
	}
	p, err := readPrepared(codePath, memPath, s.identity)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			os.Remove(codePath)
			os.Remove(memPath)
		}
		return nil
	}
	touch(codePath, memPath)
	return p
}

// touch marks files used, for the disk cache's bound: the files used
// least recently go first (diskCache.trim).
func touch(paths ...string) {
	now := time.Now()
	for _, p := range paths {
		os.Chtimes(p, now, now)
	}
}

// A reactor's snapshot (image.go: its memory and globals after its
// _initialize, which ran with no arguments, environment, clock or
// randomness, and touched no channel) is kept too, in <sum>-<id>.snap
// and .snapmem, so that the next agent's first execution of the module
// starts from it instead of initialising the Go runtime again: what
// each agent would compute itself, as the initialisation depends on
// nothing but the module and the agent's build.
//
//	<sum>-<id>.snap: preparedMagic, a version, the CRC-32C of the rest,
//	    then the identity, the pages, the globals' values, and the size
//	    and CRC-32C of the .snapmem file.

// snapshotIdentity is what a snapshot depends on besides the module: the
// agent's identity, the system's boot, as the Go runtime keeps the
// monotonic clock's readings, which restart at a boot, and the memory
// limit it was taken under (the agent's default: image.go's plan), which
// a guest can learn, so that agents of other defaults neither use nor
// replace it.
func (s *moduleStore) snapshotIdentity() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s boot=%s limit=%d", s.identity, bytes.TrimSpace(boot), s.snapLimit)
}

// keepSnapshot writes the snapshot of module sum if its image has one
// that is not on disk yet, and reports whether nothing is left to write.
func (s *moduleStore) keepSnapshot(sum string, img *moduleImage) bool {
	if img == nil || !img.reactor {
		return true
	}
	img.mu.Lock()
	snap := img.snap
	img.mu.Unlock()
	if snap == nil {
		// Not taken yet, or never to be: an execution may be in its
		// _initialize. Asking costs a lock per execution.
		return false
	}
	codePath, _, ok := s.preparedPaths(sum)
	identity := s.snapshotIdentity()
	if !ok || identity == "" {
		return true
	}
	base := codePath[:len(codePath)-len(".code")]
	s.compileMu.Lock()
	defer s.compileMu.Unlock()
	size, crc, err := writeMemImage(base+".snapmem", snap.mem)
	if err != nil {
		return true
	}
	b := make([]byte, 0, 64+len(identity)+8*len(snap.globals))
	b = append(b, preparedMagic...)
	b = binary.LittleEndian.AppendUint32(b, preparedVersion)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(identity)))
	b = append(b, identity...)
	b = binary.LittleEndian.AppendUint32(b, snap.pages)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(snap.globals)))
	for _, g := range snap.globals {
		b = binary.LittleEndian.AppendUint64(b, g)
	}
	b = binary.LittleEndian.AppendUint64(b, size)
	b = binary.LittleEndian.AppendUint32(b, crc)
	binary.LittleEndian.PutUint32(b[len(preparedMagic)+4:], crc32.Checksum(b[len(preparedMagic)+8:], castagnoli))
	writeFileOnce(base+".snap", func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
	if s.disk != nil {
		s.disk.trim()
	}
	return true
}

// loadSnapshot gives img the snapshot kept for module sum, if there is
// an intact one, and reports whether it did. A damaged one is removed.
func (s *moduleStore) loadSnapshot(sum string, img *moduleImage) bool {
	if img == nil || !img.reactor {
		return false
	}
	codePath, _, ok := s.preparedPaths(sum)
	identity := s.snapshotIdentity()
	if !ok || identity == "" {
		return false
	}
	base := codePath[:len(codePath)-len(".code")]
	snap, err := readSnapshot(base+".snap", base+".snapmem", identity, len(img.globals))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			os.Remove(base + ".snap")
			os.Remove(base + ".snapmem")
		}
		return false
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.tried {
		snap.mem.close()
		return false
	}
	img.snap, img.tried = snap, true
	touch(base+".snap", base+".snapmem")
	return true
}

// readSnapshot reads a .snap file and maps its .snapmem file.
func readSnapshot(path, memPath, identity string, globals int) (*snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	const fixed = len(preparedMagic) + 8
	if len(b) < fixed || string(b[:len(preparedMagic)]) != preparedMagic ||
		binary.LittleEndian.Uint32(b[len(preparedMagic):]) != preparedVersion ||
		binary.LittleEndian.Uint32(b[len(preparedMagic)+4:]) != crc32.Checksum(b[fixed:], castagnoli) {
		return nil, errors.New("host: prepared snapshot: malformed")
	}
	r := b[fixed:]
	want := 4 + len(identity) + 8 + 8*globals + 12
	if len(r) != want || binary.LittleEndian.Uint32(r) != uint32(len(identity)) || string(r[4:4+len(identity)]) != identity {
		return nil, errors.New("host: prepared snapshot: made by another agent")
	}
	r = r[4+len(identity):]
	s := &snapshot{pages: binary.LittleEndian.Uint32(r)}
	if binary.LittleEndian.Uint32(r[4:]) != uint32(globals) {
		return nil, errors.New("host: prepared snapshot: wrong globals")
	}
	r = r[8:]
	for range globals {
		s.globals = append(s.globals, binary.LittleEndian.Uint64(r))
		r = r[8:]
	}
	size, crc := binary.LittleEndian.Uint64(r), binary.LittleEndian.Uint32(r[8:])
	if size > uint64(s.pages)*65536 {
		return nil, errors.New("host: prepared snapshot: image larger than its memory")
	}
	if s.mem, err = openMemImage(memPath, size, crc); err != nil {
		return nil, err
	}
	return s, nil
}
