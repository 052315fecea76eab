package gateway

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// bootScript starts the agent on a POSIX host in one exec. Its arguments,
// each prefixed by its kind, are
//
//	p:GOOS/GOARCH=SHA256:SIZE  an agent build the client can supply (one per platform)
//	d:DIR                 the working directory, created if missing
//	e:NAME=VALUE          an environment variable for the agent
//	a:PATH                an agent already installed there: no cache, no upload
//	m:FLAG                a flag for the agent: --resident or --connect-resident
//
// It prints "wasmnet-boot GOOS GOARCH UNAME-S UNAME-M". If
// ~/.cache/wasmnet/agent-<sha256> of the build for its platform is there
// with the right size, it prints "wasmnet-boot exec cached PATH" and execs
// it: a cached start is one exec and no round trip beyond it. Otherwise it
// checks that it can unpack and install an agent, prints
// "wasmnet-boot need" ("need replace" over a damaged one) and reads "SHA256 SIZE\n" and SIZE bytes of
// gzip-compressed agent from stdin, checks the sha256 of the result,
// installs it under a unique temporary name and renames it into place (so
// concurrent bootstraps of one host do not clash), prints
// "wasmnet-boot exec uploaded PATH" and execs it. Failures print
// "wasmnet-boot error KIND: MESSAGE" and exit. The cache directory is
// made 0700 and used only if it and its parent are this user's, no link
// and writable by no one else, and every directory of its physical path
// is this user's or root's and writable by no one else unless sticky;
// otherwise the script says so on stderr and the agent is uploaded to a
// private temporary directory (checked the same way), removed when the
// agent exits. So no other user can swap what runs after it was checked.
//
// Why gzip and not zstd: gzip -d is on every POSIX host (it is in POSIX's
// pax/compress family and in busybox), zstd is not, and a self-contained
// remote decompressor would itself have to be uploaded uncompressed. gzip
// shrinks a Go binary to about 40%, and the compressed form is made once
// per client process.
//
// The script is one line (statements joined by spaces) and single-quoted, so
// that csh or tcsh as a login shell passes it on to /bin/sh as sh would.
var bootScript = strings.Join([]string{
	`b=; d=; h=; z=; f=; y=; w=;`,
	`s=$(uname -s 2>/dev/null); m=$(uname -m 2>/dev/null);`,
	`case "$s" in Linux) o=linux;; Darwin) o=darwin;; FreeBSD) o=freebsd;; OpenBSD) o=openbsd;; NetBSD) o=netbsd;; DragonFly) o=dragonfly;; *) o=unknown;; esac;`,
	`case "$m" in x86_64|amd64) g=amd64;; aarch64|arm64) g=arm64;; i?86) g=386;; armv*|arm) g=arm;; riscv64) g=riscv64;; ppc64le) g=ppc64le;; s390x) g=s390x;; loongarch64) g=loong64;; *) g=unknown;; esac;`,
	`for x in "$@"; do case "$x" in d:*) d=${x#d:};; e:*) export "${x#e:}";; a:*) f=${x#a:};; m:*) w=${x#m:};; "p:$o/$g="*) h=${x#*=}; z=${h#*:}; h=${h%%:*};; esac; done;`,
	`c="${HOME:-.}/.cache/wasmnet";`,
	`echo "wasmnet-boot $o $g $s $m";`,
	// The cache holds code this user runs: it and its parent must be this
	// user's and no link, or it is not used; then no one else may write to
	// them (chmod, as the mode cannot be read without ls, which a remote
	// PATH may lack). A cached agent must be this user's file too.
	`q() { [ -d "$1" ] && [ ! -L "$1" ] && [ -O "$1" ]; };`,
	// Then, as host.PrivateDir does for the compile cache, every
	// directory of its physical path, from /, must be this user's or
	// root's and writable by no one else unless sticky (as /tmp is): a
	// directory above that another user can write to lets them swap the
	// cache, and the agent in it, between this check and the exec. Only
	// the checked physical path is used from then on. v prints what fails.
	`v() { y=$1; set -- /; while [ -n "$y" ] && [ "$y" != / ]; do set -- "$@" "$y"; y=${y%/*}; done;`,
	`find "$@" -prune ! \( \( -user 0 -o -user "$(id -u)" \) \( -type d -perm -1000 -o ! -perm -0020 ! -perm -0002 \) \) -print 2>&1; };`,
	`[ -e "$c" ] || [ -L "$c" ] || (umask 077; mkdir -p "$c") 2>/dev/null;`,
	`q "${c%/*}" && q "$c" && chmod go-w "${c%/*}" 2>/dev/null && chmod 700 "$c" 2>/dev/null && y=$(cd -P "$c" && pwd -P) && b=$(v "$y") && [ -z "$b" ] && c=$y || { echo "wasmnet-boot: $c is not private to this user (owner, mode or a link${b:+: }$b): no agent cache" >&2; c=; };`,
	`r=cached; x=;`,
	`if [ -n "$f" ]; then r=given;`,
	// A cached agent of the wrong size (truncated by a full disk, a crash
	// of the machine) is replaced; its sha256 was checked when installed.
	// Its mode is not checked: no other user can enter the 0700 cache to
	// open it, whatever its mode says.
	`elif [ -n "$h" ] && [ -n "$c" ] && [ -x "$c/agent-$h" ] && [ ! -L "$c/agent-$h" ] && [ -O "$c/agent-$h" ] && [ $(wc -c 2>/dev/null < "$c/agent-$h") -eq "$z" ] 2>/dev/null; then f="$c/agent-$h";`,
	`else`,
	// Every check that can fail before the upload is made first, so that
	// the client reads its reason instead of writing into a closed pipe.
	`command -v gzip >/dev/null 2>&1 || { echo "wasmnet-boot error upload: no gzip on the remote PATH ($PATH) to unpack the agent"; exit 1; };`,
	`if [ -z "$c" ]; then c=$(mktemp -d 2>&1) && x=$c || { echo "wasmnet-boot error upload: no private directory for the agent: $c"; exit 1; };`,
	`y=$(cd -P "$c" && pwd -P) && b=$(v "$y") && [ -z "$b" ] && c=$y || { rm -rf "$x"; echo "wasmnet-boot error upload: the temporary directory $c is not private to this user (owner, mode or a link): $b"; exit 1; }; x=$c; fi;`,
	`e=$(mkdir -p "$c" 2>&1) || { echo "wasmnet-boot error upload: cannot create the agent cache $c: $e"; exit 1; };`,
	`t=$(mktemp "$c/.agent-XXXXXXXX" 2>/dev/null) || t="$c/.agent-$$.tmp";`,
	`e=$( { : > "$t"; } 2>&1) || { echo "wasmnet-boot error upload: cannot write in the agent cache $c: $e"; exit 1; };`,
	`trap 'rm -f "$t"' EXIT; trap 'exit 1' HUP INT TERM PIPE;`,
	`if [ -e "$c/agent-$h" ]; then echo "wasmnet-boot need replace"; else echo "wasmnet-boot need"; fi;`,
	`read -r h n || exit 1;`,
	`case "$h" in *[!0-9a-f]*|"") echo "wasmnet-boot error upload: bad header"; exit 1;; esac;`,
	`case "$n" in *[!0-9]*|"") echo "wasmnet-boot error upload: bad header"; exit 1;; esac;`,
	`head -c "$n" | gzip -dc > "$t" || { echo "wasmnet-boot error upload: gzip -dc failed"; exit 1; };`,
	`if command -v sha256sum >/dev/null 2>&1; then k=$(sha256sum < "$t");`,
	`elif command -v shasum >/dev/null 2>&1; then k=$(shasum -a 256 < "$t");`,
	`elif command -v openssl >/dev/null 2>&1; then k=$(openssl dgst -sha256 < "$t");`,
	`else echo "wasmnet-boot error upload: no sha256sum, shasum or openssl to verify the agent"; exit 1; fi;`,
	`k=${k##*= }; k=${k%% *};`,
	`[ "$k" = "$h" ] || { echo "wasmnet-boot error upload: sha256 of the received agent is $k, want $h"; exit 1; };`,
	`chmod 755 "$t" && mv -f "$t" "$c/agent-$h" || { echo "wasmnet-boot error upload: cannot install $c/agent-$h"; exit 1; };`,
	`f="$c/agent-$h"; r=uploaded; trap - EXIT HUP INT TERM PIPE;`,
	`fi;`,
	`if [ -n "$d" ]; then mkdir -p "$d" && cd "$d" || { echo "wasmnet-boot error chdir: cannot enter $d"; exit 1; }; fi;`,
	`echo "wasmnet-boot exec $r $f";`,
	`if [ -n "$x" ]; then "$f" agent $w; e=$?; rm -rf "$x"; exit $e; fi;`,
	`exec "$f" agent $w`,
}, " ")

// bootReport says how an ssh gateway's agent was started.
type bootReport struct {
	GOOS, GOARCH string // the remote platform, as Go names it
	Uname        string // the remote uname -s and uname -m
	Uploaded     bool   // the agent was streamed: the remote cache lacked it
	Replaced     bool   // the upload replaced a damaged cached agent
	Agent        string // the remote path of the agent
}

// bootPlatforms are the platforms whose agent hashes a bootstrap offers, so
// that the remote side picks its own without a round trip. Windows is left
// out: it has no POSIX shell to run the script.
func bootPlatforms() [][2]string {
	list := [][2]string{{runtime.GOOS, runtime.GOARCH}}
	for _, p := range [][2]string{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}, {"freebsd", "amd64"}} {
		if p != list[0] {
			list = append(list, p)
		}
	}
	return list
}

// bootArgs builds the script's arguments for sp.
func bootArgs(sp Spec, agentBinary agentBinaryFunc) ([]string, error) {
	var args []string
	if sp.Chdir != "" {
		args = append(args, "d:"+sp.Chdir)
	}
	for _, kv := range sp.agentEnv() {
		name, _, _ := strings.Cut(kv, "=")
		if !isEnvName(name) {
			return nil, fmt.Errorf("env:%s: not a valid environment variable name", name)
		}
		args = append(args, "e:"+kv)
	}
	if p := sp.Options["agent"]; p != "" {
		return append(args, "a:"+p), nil
	}
	for _, p := range bootPlatforms() {
		path, err := agentBinary(p[0], p[1])
		if err != nil {
			continue
		}
		if f, err := loadAgentFile(path); err == nil {
			args = append(args, "p:"+p[0]+"/"+p[1]+"="+f.sum+":"+strconv.FormatInt(f.size, 10))
		}
	}
	return args, nil
}

func isEnvName(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// shellQuote quotes s for a POSIX shell (and csh): 'it'\”s'.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// bootstrap runs bootScript in a new session of client and returns the
// started agent's link. ctx bounds the bootstrap; on its end the session is
// closed. name is the host as the spec gives it, for messages.
func bootstrap(ctx context.Context, client *ssh.Client, name string, sp Spec, agentBinary agentBinaryFunc) (*link, bootReport, error) {
	return bootstrapAgent(ctx, client, name, sp, agentBinary, "")
}

// bootstrapAgent is bootstrap with flag, if not empty, given to the agent
// (one of residentFlags, for ssh=HOST//resident).
func bootstrapAgent(ctx context.Context, client *ssh.Client, name string, sp Spec, agentBinary agentBinaryFunc, flag string) (*link, bootReport, error) {
	var rep bootReport
	args, err := bootArgs(sp, agentBinary)
	if err != nil {
		return nil, rep, err
	}
	if flag != "" {
		args = append(args, "m:"+flag)
	}
	sess, err := client.NewSession()
	if err != nil {
		return nil, rep, fmt.Errorf("new session: %w", err)
	}
	stdin, err1 := sess.StdinPipe()
	stdout, err2 := sess.StdoutPipe()
	stderr := newTailBuffer(stderrTail)
	sess.Stderr = stderr
	cmd := "/bin/sh -c " + shellQuote(bootScript) + " wasmnet-boot"
	for _, a := range args {
		cmd += " " + shellQuote(a)
	}
	if err := errors.Join(err1, err2); err != nil {
		sess.Close()
		return nil, rep, err
	}
	if err := sess.Start(cmd); err != nil {
		sess.Close()
		return nil, rep, fmt.Errorf("start bootstrap: %w", err)
	}
	// The connection may be shared: ctx's end cuts this session only.
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	w := newWaiter(sess.Wait)
	b := &booter{w: w, stdin: stdin, out: bufio.NewReader(stdout), stderr: stderr, doing: "waiting for the remote shell"}
	rep, err = b.run(agentBinary)
	if !stop() {
		// The session was cut because ctx ended: what failed then is no
		// news about the remote host.
		err = fmt.Errorf("bootstrap timed out while %s: %w", b.doing, ctx.Err())
	}
	if err != nil {
		sess.Close()
		return nil, rep, err
	}

	pr, pw := io.Pipe()
	go pump(pw, &startCheckReader{r: b.out, check: w.startCheck("ssh "+name, stderr)})
	l := &link{
		conn: &sessionConn{r: pr, w: stdin, cut: client.Close},
		wait: w.wait,
		kill: func() error {
			sess.Signal(ssh.SIGKILL)
			return sess.Close()
		},
		stderr: stderr,
	}
	return l, rep, nil
}

// booter holds one bootstrap's session ends.
type booter struct {
	w      *waiter
	stdin  io.Writer
	out    *bufio.Reader
	stderr *tailBuffer
	doing  string // what the bootstrap is doing, for a timeout's message
}

func (b *booter) run(agentBinary agentBinaryFunc) (bootReport, error) {
	var rep bootReport
	f, err := b.line()
	if err != nil || len(f) != 4 {
		return rep, b.ended(ErrNoPOSIXShell, "running /bin/sh", err)
	}
	rep.GOOS, rep.GOARCH, rep.Uname = f[0], f[1], f[2]+" "+f[3]
	b.doing = "waiting for the bootstrap script"
	if f, err = b.line(); err != nil {
		return rep, b.ended(ErrNoPOSIXShell, "running the bootstrap script", err)
	}
	if f[0] == "need" {
		rep.Uploaded = true
		rep.Replaced = len(f) > 1 && f[1] == "replace"
		b.doing = "uploading the agent"
		if err := b.upload(rep, agentBinary); err != nil {
			return rep, err
		}
		b.doing = "installing the agent"
		if f, err = b.line(); err != nil {
			return rep, b.ended(ErrUploadFailed, "installing the agent", err)
		}
	}
	switch {
	case f[0] == "exec" && len(f) >= 3:
		rep.Agent = strings.Join(f[2:], " ")
		return rep, nil
	case f[0] == "error" && len(f) > 1 && f[1] == "upload:":
		return rep, b.failed(ErrUploadFailed, strings.Join(f[2:], " "))
	default:
		return rep, b.failed(errBootstrap, strings.Join(f, " "))
	}
}

var errBootstrap = errors.New("bootstrap")

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// failed reports what the script said, with the remote stderr.
func (b *booter) failed(kind error, said string) error {
	// The script exits after its error line; its stderr is all there once
	// the session has ended.
	go b.w.wait()
	select {
	case <-b.w.done:
	case <-time.After(2 * time.Second):
	}
	msg := fmt.Sprintf("%v: %s", kind, said)
	if s := strings.TrimSpace(b.stderr.String()); s != "" {
		msg += "; stderr: " + s
	}
	return &bootError{kind: kind, msg: msg, err: errors.New(said)}
}

// upload streams the agent for rep's platform.
func (b *booter) upload(rep bootReport, agentBinary agentBinaryFunc) error {
	if rep.GOOS == "unknown" || rep.GOARCH == "unknown" {
		return fmt.Errorf("%w: no agent for this platform (uname %s)", ErrUploadFailed, rep.Uname)
	}
	path, err := agentBinary(rep.GOOS, rep.GOARCH)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUploadFailed, err)
	}
	af, err := loadAgentFile(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUploadFailed, err)
	}
	gz, err := af.compressed()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUploadFailed, err)
	}
	if _, err := fmt.Fprintf(b.stdin, "%s %d\n", af.sum, len(gz)); err != nil {
		return b.uploadFailed(path, err)
	}
	if _, err := b.stdin.Write(gz); err != nil {
		return b.uploadFailed(path, err)
	}
	return nil
}

// uploadFailed reports a write to the script that failed: the script has
// ended, and what it printed last says why better than the write's EOF.
func (b *booter) uploadFailed(path string, err error) error {
	said := make(chan []string, 1)
	go func() {
		f, _ := b.line()
		said <- f
	}()
	select {
	case f := <-said:
		if len(f) > 1 && f[0] == "error" {
			return b.failed(ErrUploadFailed, strings.Join(f[1+btoi(f[1] == "upload:"):], " "))
		}
	case <-time.After(2 * time.Second):
	}
	return b.ended(ErrUploadFailed, "sending "+path, err)
}

// line reads the next "wasmnet-boot ..." line and returns its fields after
// the tag. Other lines (a chatty shell startup file) are skipped.
func (b *booter) line() ([]string, error) {
	for range 100 {
		s, err := b.out.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if f := strings.Fields(s); len(f) > 1 && f[0] == "wasmnet-boot" {
			return f[1:], nil
		}
	}
	return nil, errors.New("no bootstrap output in the first 100 lines")
}

// ended reports a session that ended before the bootstrap did, with its exit
// status and stderr.
func (b *booter) ended(kind error, doing string, err error) error {
	go b.w.wait()
	select {
	case <-b.w.done:
		if b.w.err != nil {
			err = b.w.err
		}
	case <-time.After(2 * time.Second):
	}
	msg := fmt.Sprintf("%v: %s: %v", kind, doing, err)
	if s := strings.TrimSpace(b.stderr.String()); s != "" {
		msg += "; stderr: " + s
	}
	return &bootError{kind: kind, msg: msg, err: err}
}

type bootError struct {
	kind error
	msg  string
	err  error
}

func (e *bootError) Error() string   { return e.msg }
func (e *bootError) Unwrap() []error { return []error{e.kind, e.err} }

// pump copies the agent's stdout to pw until it ends or the reading side is
// closed; then it drains the rest, so that the session is not held up by a
// full window.
func pump(pw *io.PipeWriter, r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := pw.Write(buf[:n]); werr != nil {
				io.Copy(io.Discard, r)
				return
			}
		}
		if err != nil {
			pw.CloseWithError(err)
			return
		}
	}
}

// sessionConn is an SSH session's stdout (through pump) and stdin. Close
// closes the agent's stdin and makes a blocked Read return.
type sessionConn struct {
	r *io.PipeReader
	w io.WriteCloser
	// cut ends the whole SSH connection: the last resort when the
	// session's own close cannot be sent.
	cut func() error

	// x/crypto/ssh's channel reads its sent-EOF flag in Write without a
	// lock and sets it in CloseWrite (the race tailscale/tailscale#5209
	// reports), so writes and the close take turns on wmu.
	// The mux's writer and the gateway's watch may both close the conn.
	wmu       sync.Mutex
	closeOnce sync.Once
	closeErr  error
}

// sessionCloseGrace is how long closing a session may wait for the SSH
// connection to take its close message. A write stuck on a dead link (the
// peer's window full, the kernel's send buffer full) holds the channel's
// write lock; the close waits behind it for as long as TCP retransmits,
// which is many minutes.
const sessionCloseGrace = 5 * time.Second

func (c *sessionConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *sessionConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Write(p)
}

// Close closes the session's stdin, and cuts the SSH connection when that
// cannot be done in sessionCloseGrace: a connection whose writes are stuck
// that long is as good as lost for every session on it.
func (c *sessionConn) Close() error {
	c.closeOnce.Do(func() {
		c.r.Close()
		done := make(chan error, 1)
		go func() {
			// A write stuck on a dead link holds wmu until cut ends it.
			c.wmu.Lock()
			defer c.wmu.Unlock()
			done <- c.w.Close()
		}()
		select {
		case c.closeErr = <-done:
		case <-time.After(sessionCloseGrace):
			c.cut()
			c.closeErr = <-done
		}
	})
	return c.closeErr
}

// agentFile is an agent binary's sha256 and, once needed, its gzip form.
// They are kept for the life of the process, keyed by path, size and mtime.
type agentFile struct {
	path string
	sum  string
	size int64
	gz   func() ([]byte, error)
}

func (f *agentFile) compressed() ([]byte, error) { return f.gz() }

var agentFiles sync.Map // "path\x00size\x00mtime" -> *agentFile

func loadAgentFile(path string) (*agentFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", path, fi.Size(), fi.ModTime().UnixNano())
	if f, ok := agentFiles.Load(key); ok {
		return f.(*agentFile), nil
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &agentFile{path: path, sum: hex.EncodeToString(h.Sum(nil)), size: fi.Size()}
	f.gz = sync.OnceValues(func() ([]byte, error) { return gzipFile(path, f.sum) })
	actual, _ := agentFiles.LoadOrStore(key, f)
	return actual.(*agentFile), nil
}

// gzipFile compresses path, checking that it still has the sha256 sum.
func gzipFile(path, sum string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if s := sha256.Sum256(data); hex.EncodeToString(s[:]) != sum {
		return nil, fmt.Errorf("%s changed while in use", path)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
