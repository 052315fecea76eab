package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// authorizedKey is one line of serve's authorized keys file, in the format
// of OpenSSH's: options, key type, key, comment.
type authorizedKey struct {
	key      ssh.PublicKey
	where    string   // "FILE:LINE", for messages
	from     []string // from= patterns; nil allows every address
	expires  time.Time
	noHops   bool // restrict or no-port-forwarding
	restrict bool // restrict: no hops, no rsync, no directory grants
}

// Extensions of ssh.Permissions that carry a key's restrictions from the
// authentication to the agents of its connection.
const (
	permNoHops    = "wasmnet-no-hops"
	permRestrict  = "wasmnet-restrict"
	permKeyOrigin = "wasmnet-key"
	// permFingerprint is the key's SHA256 fingerprint: the tenant its
	// connections are of the server's engine.
	permFingerprint = "wasmnet-fingerprint"
)

// readAuthorizedKeys reads path, refusing a file others may write (anyone
// who can add a line there can run code as this user) and any option it
// does not implement: an option silently ignored would grant more than its
// author meant.
func readAuthorizedKeys(path string) ([]authorizedKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: list there the public keys of the clients that may connect, one per line (for example: cat ~/.ssh/id_ed25519.pub >> %s)", err, path)
		}
		return nil, err
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("%s: mode %04o lets other users add keys; chmod go-w it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []authorizedKey
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		where := fmt.Sprintf("%s:%d", path, i+1)
		key, _, options, _, err := ssh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		k := authorizedKey{key: key, where: where}
		if err := k.setOptions(options); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s lists no key: no client could connect", path)
	}
	return keys, nil
}

// setOptions applies the options of a line. from=, expiry-time= and
// restrict mean what they mean to sshd; no-port-forwarding refuses the hop
// primitives (dial is port forwarding, and the two go together); the other
// no-* options forbid what serve never offers. Anything else is refused.
func (k *authorizedKey) setOptions(options []string) error {
	seen := map[string]bool{}
	for _, opt := range options {
		name, quoted, hasValue := strings.Cut(opt, "=")
		name = strings.ToLower(name)
		if !implementedOption(name) {
			return fmt.Errorf("option %q is not implemented by wasmnet serve (it implements from=, expiry-time=, restrict, no-port-forwarding and the no-* options that are always true here): remove it, or keep this key out of the file", opt)
		}
		if seen[name] {
			return fmt.Errorf("option %s is given twice", name)
		}
		seen[name] = true
		value, err := optionValue(name, quoted, hasValue)
		if err != nil {
			return err
		}
		switch name {
		case "from":
			if k.from, err = parseFromPatterns(value); err != nil {
				return err
			}
		case "expiry-time":
			if k.expires, err = parseExpiryTime(value); err != nil {
				return err
			}
		case "restrict":
			k.restrict, k.noHops = true, true
		case "no-port-forwarding":
			k.noHops = true
		}
		// no-agent-forwarding, no-pty, no-user-rc, no-x11-forwarding:
		// serve offers none of these to anyone.

	}
	return nil
}

func implementedOption(name string) bool {
	switch name {
	case "from", "expiry-time", "restrict", "no-port-forwarding",
		"no-agent-forwarding", "no-pty", "no-user-rc", "no-x11-forwarding":
		return true
	}
	return false
}

// optionValue checks that an option has a value exactly when it takes one,
// and removes the quotes around it.
func optionValue(name, quoted string, hasValue bool) (string, error) {
	takesValue := name == "from" || name == "expiry-time"
	switch {
	case takesValue && !hasValue:
		return "", fmt.Errorf("option %s needs a value: %s=\"...\"", name, name)
	case !takesValue && hasValue:
		return "", fmt.Errorf("option %s takes no value", name)
	case !hasValue:
		return "", nil
	}
	if len(quoted) < 2 || quoted[0] != '"' || quoted[len(quoted)-1] != '"' {
		return "", fmt.Errorf("option %s: the value must be in double quotes", name)
	}
	return strings.ReplaceAll(quoted[1:len(quoted)-1], `\"`, `"`), nil
}

// parseFromPatterns checks a from= list: addresses with * and ? wildcards,
// or address/masklen, each optionally negated with !. Host names are
// refused: serve matches the client's address only, without reverse DNS,
// so a name pattern would never match and nobody would learn why.
func parseFromPatterns(list string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		bare := strings.TrimPrefix(p, "!")
		if bare == "" {
			return nil, fmt.Errorf("from=%q: empty pattern", list)
		}
		if strings.Contains(bare, "/") {
			if _, _, err := net.ParseCIDR(bare); err != nil {
				return nil, fmt.Errorf("from=%q: %q is not an address/masklen", list, bare)
			}
		} else if strings.Trim(bare, "0123456789abcdefABCDEF.:*?") != "" {
			return nil, fmt.Errorf("from=%q: %q names a host; wasmnet serve matches client addresses only (no reverse DNS): use an address, address/masklen or a wildcard such as 10.1.*", list, bare)
		}
		out = append(out, strings.ToLower(p))
	}
	return out, nil
}

// allowsFrom says whether ip matches the from= patterns as sshd matches
// them: a negated pattern that matches refuses, else one positive match
// allows.
func (k *authorizedKey) allowsFrom(ip net.IP) bool {
	if k.from == nil {
		return true
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	text := ip.String()
	allowed := false
	for _, p := range k.from {
		bare, negated := strings.CutPrefix(p, "!")
		var match bool
		if _, n, err := net.ParseCIDR(bare); err == nil {
			match = n.Contains(ip)
		} else {
			match, _ = path.Match(bare, text)
		}
		if match && negated {
			return false
		}
		allowed = allowed || match
	}
	return allowed
}

// parseExpiryTime reads YYYYMMDD[HHMM[SS]], local time unless it ends in Z,
// as sshd does.
func parseExpiryTime(s string) (time.Time, error) {
	loc := time.Local
	if t, ok := strings.CutSuffix(s, "Z"); ok {
		s, loc = t, time.UTC
	}
	for _, layout := range []string{"20060102", "200601021504", "20060102150405"} {
		if len(s) == len(layout) {
			if t, err := time.ParseInLocation(layout, s, loc); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("expiry-time=%q: want YYYYMMDD[HHMM[SS]][Z]", s)
}

// authorize finds the first line for key whose options admit a client at
// addr now, and returns the restrictions of that line.
func authorize(keys []authorizedKey, key ssh.PublicKey, addr net.Addr, now time.Time) (*ssh.Permissions, error) {
	var ip net.IP
	if ta, ok := addr.(*net.TCPAddr); ok {
		ip = ta.IP
	}
	why := "is not authorized"
	for _, k := range keys {
		if !bytes.Equal(k.key.Marshal(), key.Marshal()) {
			continue
		}
		switch {
		case !k.expires.IsZero() && now.After(k.expires):
			why = "expired at " + k.expires.Format(time.RFC3339) + " (" + k.where + ")"
		case k.from != nil && (ip == nil || !k.allowsFrom(ip)):
			why = "is not authorized from " + addr.String() + " (from= of " + k.where + ")"
		default:
			perms := &ssh.Permissions{Extensions: map[string]string{
				permKeyOrigin: k.where, permFingerprint: ssh.FingerprintSHA256(key),
			}}
			if k.noHops {
				perms.Extensions[permNoHops] = ""
			}
			if k.restrict {
				perms.Extensions[permRestrict] = ""
			}
			return perms, nil
		}
	}
	return nil, fmt.Errorf("key %s %s", ssh.FingerprintSHA256(key), why)
}

// serverConfig makes the SSH server side: the host key, and public key
// authentication against the authorized keys file.
func serverConfig(f *serveFlags) (*ssh.ServerConfig, error) {
	signer, err := loadOrCreateHostKey(f.hostKey)
	if err != nil {
		return nil, fmt.Errorf("serve: host key: %w", err)
	}
	authorized, err := readAuthorizedKeys(f.authorizedKeys)
	if err != nil {
		return nil, fmt.Errorf("serve: authorized keys: %w", err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			return authorize(authorized, key, meta.RemoteAddr(), time.Now())
		},
		// sshd's default; each try costs a signature check.
		MaxAuthTries: 6,
	}
	cfg.AddHostKey(signer)
	return cfg, nil
}

// loadOrCreateHostKey reads the host key, or makes an ed25519 one. A key
// file others can read is refused, as sshd refuses it: whoever reads it can
// pose as this server.
func loadOrCreateHostKey(path string) (ssh.Signer, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "wasmnet serve host key")
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
		signer, err := ssh.NewSignerFromKey(priv)
		if err != nil {
			return nil, err
		}
		// For the clients' known_hosts.
		pub := ssh.MarshalAuthorizedKey(signer.PublicKey())
		if err := os.WriteFile(path+".pub", pub, 0o644); err != nil {
			return nil, err
		}
		return signer, nil
	} else if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o lets other users read the private key; chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ssh.ParsePrivateKey(b)
}

// configDir is wasmnet's directory of settings: $XDG_CONFIG_HOME/wasmnet,
// else ~/.config/wasmnet (on every OS, so that the paths the docs name are
// the paths used).
func configDir() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "wasmnet")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".config", "wasmnet")
}
