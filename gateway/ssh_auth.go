package gateway

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kevinburke/ssh_config"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Errors an ssh gateway's start wraps, so that callers can tell the causes
// apart with errors.Is. ErrAgentStart (exec.go) joins them for an agent that
// exits before it speaks.
var (
	ErrHostUnreachable = errors.New("host unreachable")
	ErrAuthRefused     = errors.New("authentication refused")
	ErrHostKeyUnknown  = errors.New("host key unknown")
	ErrHostKeyMismatch = errors.New("host key does not match")
	ErrNoPOSIXShell    = errors.New("remote lacks a POSIX shell")
	ErrUploadFailed    = errors.New("agent upload failed")
)

// sshTarget is a host to connect to, after ~/.ssh/config.
type sshTarget struct {
	alias      string   // the host as the spec (or a ProxyJump entry) names it
	host, port string   // where to connect: HostName and Port
	user       string   // whom to log in as
	identities []string // IdentityFile entries, expanded; nil means the defaults
	jumps      []string // ProxyJump hops, in connection order
}

func (t sshTarget) addr() string { return net.JoinHostPort(t.host, t.port) }

func (t sshTarget) String() string { return t.user + "@" + t.addr() }

// splitUserHostPort splits [user@]host[:port]; an IPv6 host with a port is
// written in brackets, [::1]:22.
func splitUserHostPort(s string) (usr, host, port string, err error) {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		usr, s = s[:i], s[i+1:]
	}
	host = s
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		if host, port, err = net.SplitHostPort(s); err != nil {
			return "", "", "", fmt.Errorf("bad host %q: %w", s, err)
		}
	}
	if host == "" {
		return "", "", "", fmt.Errorf("bad host %q: empty host name", s)
	}
	return usr, host, port, nil
}

// maxSSHConfig bounds the size of an ssh_config file read: a spec may name
// any file, and the parser holds it all.
const maxSSHConfig = 1 << 20

// loadSSHConfig reads file, or home/.ssh/config when file is empty (then
// a missing file is an empty config; a named one must exist, as with ssh
// -F). (ssh_config's own loader looks the home directory up in the
// password database and reads once per process, so it would ignore $HOME.)
func loadSSHConfig(home, file string) (*ssh_config.Config, error) {
	p := file
	if p == "" {
		p = filepath.Join(home, ".ssh", "config")
	}
	f, err := os.Open(p)
	if file == "" && errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSSHConfig+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(b) > maxSSHConfig {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, maxSSHConfig)
	}
	cfg, err := ssh_config.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return cfg, nil
}

// resolveSSHTarget applies cfg (nil for none) to [user@]host[:port] as
// OpenSSH does: what the spec says wins, then the first matching config
// value, then the defaults (port 22, the current user).
func resolveSSHTarget(value string, cfg *ssh_config.Config, home string) (sshTarget, error) {
	usr, host, port, err := splitUserHostPort(value)
	if err != nil {
		return sshTarget{}, err
	}
	get := func(key string) string {
		if cfg == nil {
			return ""
		}
		v, _ := cfg.Get(host, key)
		return v
	}
	t := sshTarget{alias: host, host: host, port: port, user: usr}
	if hn := get("HostName"); hn != "" {
		t.host = strings.ReplaceAll(hn, "%h", host)
	}
	if t.port == "" {
		t.port = get("Port")
	}
	if t.port == "" {
		t.port = "22"
	}
	if t.user == "" {
		t.user = get("User")
	}
	if t.user == "" {
		t.user = currentUser()
	}
	if cfg != nil {
		ids, _ := cfg.GetAll(host, "IdentityFile")
		for _, id := range ids {
			t.identities = append(t.identities, expandSSHPath(id, home, t))
		}
	}
	if pj := get("ProxyJump"); pj != "" && !strings.EqualFold(pj, "none") {
		for _, hop := range strings.Split(pj, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				t.jumps = append(t.jumps, strings.TrimPrefix(hop, "ssh://"))
			}
		}
	}
	return t, nil
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// expandSSHPath expands ~ and the tokens %d %h %r %u %% of an ssh_config path.
func expandSSHPath(p, home string, t sshTarget) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = home + p[1:]
	}
	r := strings.NewReplacer("%%", "%", "%d", home, "%h", t.host, "%r", t.user, "%u", currentUser())
	return r.Replace(p)
}

// sshAuth is the public keys a client offers: those of the ssh-agent at
// $SSH_AUTH_SOCK first, then those of identity files.
type sshAuth struct {
	agentConn net.Conn // nil without an agent; open while handshakes run
	signers   []ssh.Signer
	tried     []string // where the keys came from, for error messages
}

// newSSHAuth gathers keys. explicit lists identity= files: each must exist
// and be usable. Otherwise the config's IdentityFile entries, else the
// default ~/.ssh/id_ed25519, id_ecdsa and id_rsa, are used when they exist.
func newSSHAuth(explicit, configured []string, home string) (*sshAuth, error) {
	a := &sshAuth{}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if c, err := net.Dial("unix", sock); err == nil {
			if ss, err := agent.NewClient(c).Signers(); err == nil && len(ss) > 0 {
				a.agentConn = c
				a.signers = ss
				a.tried = append(a.tried, fmt.Sprintf("ssh-agent (%d keys)", len(ss)))
			} else {
				c.Close()
			}
		}
	}
	for _, p := range explicit {
		s, err := loadIdentity(p)
		if err != nil {
			a.close()
			return nil, fmt.Errorf("identity file %s: %w", p, err)
		}
		a.add(s, p)
	}
	if explicit != nil {
		return a, nil
	}
	files := configured
	if files == nil {
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			files = append(files, filepath.Join(home, ".ssh", n))
		}
	}
	for _, p := range files {
		if s, err := loadIdentity(p); err == nil {
			a.add(s, p)
		} else if !errors.Is(err, os.ErrNotExist) {
			a.tried = append(a.tried, p+" (unusable: "+err.Error()+")")
		}
	}
	return a, nil
}

func (a *sshAuth) add(s ssh.Signer, from string) {
	a.signers = append(a.signers, s)
	a.tried = append(a.tried, from)
}

func loadIdentity(p string) (ssh.Signer, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(b)
	var pm *ssh.PassphraseMissingError
	if errors.As(err, &pm) {
		return nil, errors.New("key has a passphrase: add it to ssh-agent (ssh-add) instead")
	}
	return s, err
}

func (a *sshAuth) methods() []ssh.AuthMethod {
	return []ssh.AuthMethod{ssh.PublicKeys(a.signers...)}
}

// describe says which keys were offered, for an authentication error.
func (a *sshAuth) describe() string {
	if len(a.tried) == 0 {
		return "no keys: no ssh-agent at $SSH_AUTH_SOCK and no identity file (~/.ssh/id_ed25519, id_ecdsa, id_rsa or identity=PATH)"
	}
	return "offered " + strings.Join(a.tried, ", ")
}

func (a *sshAuth) close() {
	if a.agentConn != nil {
		a.agentConn.Close()
	}
}

// hostKeyCheck verifies host keys against a known_hosts file.
type hostKeyCheck struct {
	file     string              // the known_hosts file; "" when not checking
	callback ssh.HostKeyCallback // nil when the file does not exist
}

// newHostKeyCheck reads known_hosts=PATH, else home/.ssh/known_hosts;
// insecure_ignore_host_key accepts any key.
func newHostKeyCheck(sp Spec, home string) (*hostKeyCheck, error) {
	if _, ok := sp.Options["insecure_ignore_host_key"]; ok {
		return &hostKeyCheck{}, nil
	}
	h := &hostKeyCheck{file: sp.Options["known_hosts"]}
	if h.file == "" {
		h.file = filepath.Join(home, ".ssh", "known_hosts")
	}
	cb, err := knownhosts.New(h.file)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("known_hosts: %w", err)
	default:
		h.callback = cb
	}
	return h, nil
}

// probeKey is a key no host has, offered to the known_hosts callback to learn
// which key types it holds for a host.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := ssh.NewPublicKey(pub)
	return k
})

// forHost returns the callback and host key algorithms for addr (host:port).
// The algorithms are those of the keys known_hosts holds for it, so that the
// server is asked for a key we can check rather than for its preferred one.
// A refusal is also stored in *refused, as handshake errors lose its type.
func (h *hostKeyCheck) forHost(addr string, refused *error) (ssh.HostKeyCallback, []string) {
	if h.file == "" {
		return ssh.InsecureIgnoreHostKey(), nil
	}
	var algos []string
	if h.callback != nil {
		var ke *knownhosts.KeyError
		if errors.As(h.callback(addr, fakeAddr(addr), probeKey()), &ke) {
			for _, k := range ke.Want {
				algos = append(algos, algorithmsForKeyType(k.Key.Type())...)
			}
		}
	}
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := &knownhosts.KeyError{}
		if h.callback != nil {
			if e := h.callback(hostname, remote, key); e == nil {
				return nil
			} else if !errors.As(e, &err) {
				*refused = fmt.Errorf("%w: %s: %w", ErrHostKeyMismatch, hostname, e)
				return *refused
			}
		}
		*refused = h.keyError(addr, key, err)
		return *refused
	}
	return cb, dedup(algos)
}

func (h *hostKeyCheck) keyError(addr string, key ssh.PublicKey, ke *knownhosts.KeyError) error {
	fp := key.Type() + " " + ssh.FingerprintSHA256(key)
	host, port, _ := net.SplitHostPort(addr)
	if len(ke.Want) == 0 {
		scan := "ssh-keyscan " + host
		if port != "22" {
			scan = "ssh-keyscan -p " + port + " " + host
		}
		return fmt.Errorf("%w: %s offered %s, which is not in %s; after checking the fingerprint, add it with `%s >> %s`, or use the option insecure_ignore_host_key",
			ErrHostKeyUnknown, knownhosts.Normalize(addr), fp, h.file, scan, h.file)
	}
	w := ke.Want[0]
	return fmt.Errorf("%w the one in %s:%d: %s offered %s (possible man-in-the-middle attack, or the host was reinstalled; to accept the new key, remove the old one with `ssh-keygen -f %s -R '%s'`)",
		ErrHostKeyMismatch, w.Filename, w.Line, knownhosts.Normalize(addr), fp, h.file, knownhosts.Normalize(addr))
}

func algorithmsForKeyType(t string) []string {
	switch t {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	default:
		return []string{t}
	}
}

func dedup(s []string) []string {
	var out []string
	for _, x := range s {
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// fakeAddr is a net.Addr that is just a host:port string.
type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
