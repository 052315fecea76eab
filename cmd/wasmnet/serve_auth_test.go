package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func newPublicKey(t *testing.T) (ssh.PublicKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func writeAuthorized(t *testing.T, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "authorized_keys")
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	return p
}

// Every option serve does not implement refuses the file, naming the line,
// so that no line grants more than its author wrote.
func TestSecurityAuthorizedKeysOptions(t *testing.T) {
	_, line := newPublicKey(t)
	tests := []struct {
		options string
		err     string // "" when the line is accepted
	}{
		{"", ""},
		{`from="127.0.0.1"`, ""},
		{`from="10.0.0.0/8,!10.1.*,192.168.?.1,::1"`, ""},
		{`restrict`, ""},
		{`restrict,from="127.0.0.1",no-pty,no-X11-forwarding,no-agent-forwarding,no-user-rc,no-port-forwarding`, ""},
		{`expiry-time="20991231"`, ""},
		{`command="/bin/true"`, `option "command=\"/bin/true\"" is not implemented`},
		{`environment="A=B"`, "is not implemented"},
		{`permitopen="h:1"`, "is not implemented"},
		{`cert-authority`, "is not implemented"},
		{`principals="x"`, "is not implemented"},
		{`pty`, "is not implemented"},
		{`port-forwarding`, "is not implemented"},
		{`no-touch-required`, "is not implemented"},
		{`from="*.example.com"`, "names a host"},
		{`from="10.0.0.1/33"`, "is not an address/masklen"},
		{`from=""`, "empty pattern"},
		{`from`, "needs a value"},
		{`restrict="x"`, "takes no value"},
		{`from="1.2.3.4",from="1.2.3.5"`, "given twice"},
		{`expiry-time="tomorrow"`, "want YYYYMMDD"},
	}
	for _, tt := range tests {
		text := "# wasmnet clients\n\n" + strings.TrimPrefix(tt.options+" "+line, " ") + " me@laptop\n"
		_, err := readAuthorizedKeys(writeAuthorized(t, text, 0o600))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.options, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: got %v, want an error with %q", tt.options, err, tt.err)
		case tt.err != "" && !strings.Contains(err.Error(), "authorized_keys:3:"):
			t.Errorf("%s: %v does not name line 3", tt.options, err)
		}
	}
}

func TestSecurityAuthorizedKeysFile(t *testing.T) {
	_, line := newPublicKey(t)
	if _, err := readAuthorizedKeys(writeAuthorized(t, line+"\n", 0o620)); err == nil || !strings.Contains(err.Error(), "lets other users add keys") {
		t.Errorf("group-writable file: got %v", err)
	}
	if _, err := readAuthorizedKeys(writeAuthorized(t, "# nobody\n", 0o600)); err == nil || !strings.Contains(err.Error(), "lists no key") {
		t.Errorf("empty file: got %v", err)
	}
	if _, err := readAuthorizedKeys(writeAuthorized(t, "ssh-ed25519 AAAAnotbase64!\n", 0o600)); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad key: got %v", err)
	}
	_, err := readAuthorizedKeys(filepath.Join(t.TempDir(), "authorized_keys"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "id_ed25519.pub") {
		t.Errorf("missing file: got %v, want how to make it", err)
	}
}

func TestSecurityAuthorizeFrom(t *testing.T) {
	key, line := newPublicKey(t)
	other, _ := newPublicKey(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		options, addr string
		ok            bool
	}{
		{``, "203.0.113.9", true},
		{`from="127.0.0.1"`, "127.0.0.1", true},
		{`from="127.0.0.1"`, "127.0.0.2", false},
		{`from="10.0.0.0/8"`, "127.0.0.1", false},
		{`from="10.0.0.0/8"`, "10.200.3.4", true},
		{`from="10.*"`, "10.200.3.4", true},
		{`from="10.?.3.4"`, "10.20.3.4", false},
		{`from="!127.0.0.1,*"`, "127.0.0.1", false},
		{`from="!127.0.0.1,*"`, "127.0.0.2", true},
		{`from="!127.0.0.1"`, "127.0.0.2", false}, // a negation alone admits nobody, as with sshd
		{`from="::1"`, "::1", true},
		{`from="::1"`, "127.0.0.1", false},
		{`from="192.0.2.0/24"`, "::ffff:192.0.2.7", true},
		{`expiry-time="20291231Z"`, "127.0.0.1", false},
		{`expiry-time="20300102Z"`, "127.0.0.1", true},
	}
	for _, tt := range tests {
		keys, err := readAuthorizedKeys(writeAuthorized(t, strings.TrimPrefix(tt.options+" "+line, " ")+"\n", 0o600))
		if err != nil {
			t.Fatal(err)
		}
		addr := &net.TCPAddr{IP: net.ParseIP(tt.addr), Port: 40000}
		_, err = authorize(keys, key, addr, now)
		if (err == nil) != tt.ok {
			t.Errorf("%s from %s: got %v, want allowed=%v", tt.options, tt.addr, err, tt.ok)
		}
		if _, err := authorize(keys, other, addr, now); err == nil {
			t.Errorf("%s: a key not in the file was authorized", tt.options)
		}
	}
}

// A key may have several lines; the first whose options admit the client
// decides its restrictions.
func TestSecurityAuthorizeRestrictions(t *testing.T) {
	key, line := newPublicKey(t)
	text := `restrict,from="10.0.0.0/8" ` + line + "\n" +
		`no-port-forwarding,from="127.0.0.0/8" ` + line + "\n" +
		line + "\n"
	keys, err := readAuthorizedKeys(writeAuthorized(t, text, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	perms := func(ip string) map[string]string {
		p, err := authorize(keys, key, &net.TCPAddr{IP: net.ParseIP(ip)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p.Extensions
	}
	if p := perms("10.1.1.1"); !has(p, permRestrict) || !has(p, permNoHops) || !strings.HasSuffix(p[permKeyOrigin], ":1") {
		t.Errorf("from 10.1.1.1: %v, want the restrictions of line 1", p)
	}
	if p := perms("127.0.0.1"); has(p, permRestrict) || !has(p, permNoHops) || !strings.HasSuffix(p[permKeyOrigin], ":2") {
		t.Errorf("from 127.0.0.1: %v, want those of line 2", p)
	}
	if p := perms("192.0.2.1"); has(p, permRestrict) || has(p, permNoHops) {
		t.Errorf("from 192.0.2.1: %v, want line 3's none", p)
	}
}

func has(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func TestSecurityHostKeyMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "host_ed25519")
	if _, err := loadOrCreateHostKey(p); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("created host key: %v, %v", st.Mode(), err)
	}
	s, err := loadOrCreateHostKey(p)
	if err != nil {
		t.Fatalf("reading it back: %v", err)
	}
	if pub, err := os.ReadFile(p + ".pub"); err != nil || string(pub) != string(ssh.MarshalAuthorizedKey(s.PublicKey())) {
		t.Fatalf("the public key beside it: %q, %v", pub, err)
	}
	os.Chmod(p, 0o644)
	if _, err := loadOrCreateHostKey(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable host key: got %v", err)
	}
}

func TestConfigDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	if got, want := configDir(), filepath.Join(home, ".config", "wasmnet"); got != want {
		t.Errorf("without XDG_CONFIG_HOME: %s, want %s", got, want)
	}
	t.Setenv("XDG_CONFIG_HOME", "/etc/xdg-test")
	if got := configDir(); got != "/etc/xdg-test/wasmnet" {
		t.Errorf("with XDG_CONFIG_HOME: %s", got)
	}
	t.Setenv("XDG_CONFIG_HOME", "relative") // ignored, as the XDG spec says
	if got := configDir(); !strings.HasPrefix(got, home) {
		t.Errorf("with a relative XDG_CONFIG_HOME: %s", got)
	}
}

// When the connections still authenticating fill their cap, the oldest of
// those that said least makes room: it is closed, the new one kept. A
// connection exchanging keys is kept over one that said nothing; when all
// are, the new one is refused (issue 23, item 12).
func TestSecurityPendingConnsEvictLeastProgressed(t *testing.T) {
	p := &pendingConns{max: 2}
	var conns []net.Conn
	var pending []*pendingConn
	add := func() (*pendingConn, bool) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		conns = append(conns, a)
		return p.add(a)
	}
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return errors.Is(err, io.ErrClosedPipe)
	}
	for range 3 {
		pc, ok := add()
		if !ok {
			t.Fatal("refused with room to make")
		}
		pending = append(pending, pc)
	}
	if !closed(conns[0]) || closed(conns[1]) || closed(conns[2]) || len(p.conns) != 2 {
		t.Fatalf("after 3 adds to a cap of 2: %d held, first closed %v", len(p.conns), closed(conns[0]))
	}
	// The older one exchanges keys: the newer, silent one makes room.
	pending[1].read.Store(1500)
	if _, ok := add(); !ok || closed(conns[1]) || !closed(conns[2]) {
		t.Fatalf("a connection exchanging keys was dropped for a silent one (ok %v)", ok)
	}
	p.conns[1].read.Store(1500)
	if _, ok := add(); ok || closed(conns[1]) || len(p.conns) != 2 {
		t.Fatalf("with every connection exchanging keys: ok %v, %d held", ok, len(p.conns))
	}
	p.remove(pending[1])
	if len(p.conns) != 1 || p.conns[0].Conn != conns[3] {
		t.Fatalf("after remove: %v", p.conns)
	}
}

func TestRateLog(t *testing.T) {
	var b strings.Builder
	l := &rateLog{w: &b}
	for range 3 * rateLogLines {
		l.printf("line")
	}
	if n := strings.Count(b.String(), "line\n"); n != rateLogLines {
		t.Fatalf("printed %d lines in a burst, want %d", n, rateLogLines)
	}
	l.window = time.Time{} // a second later
	l.printf("later")
	if !strings.Contains(b.String(), "(20 more messages not shown)\nlater\n") {
		t.Fatalf("after the burst: %q", b.String())
	}
}
