package gateway

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/kevinburke/ssh_config"
)

func TestSplitUserHostPort(t *testing.T) {
	tests := []struct {
		in               string
		user, host, port string
		bad              bool
	}{
		{in: "host", host: "host"},
		{in: "u@host", user: "u", host: "host"},
		{in: "u@host:2222", user: "u", host: "host", port: "2222"},
		{in: "a@b@host:22", user: "a@b", host: "host", port: "22"},
		{in: "[::1]:2222", host: "::1", port: "2222"},
		{in: "::1", host: "::1"},
		{in: "u@", bad: true},
		{in: "[::1", bad: true},
	}
	for _, tt := range tests {
		u, h, p, err := splitUserHostPort(tt.in)
		if tt.bad != (err != nil) || u != tt.user || h != tt.host || p != tt.port {
			t.Errorf("splitUserHostPort(%q) = %q, %q, %q, %v", tt.in, u, h, p, err)
		}
	}
}

const testSSHConfig = `
Host box
  HostName 10.0.0.7
  Port 2200
  User build
  IdentityFile ~/.ssh/box_key
  IdentityFile %d/keys/%r@%h

Host inner
  HostName inner.lan
  ProxyJump build@bastion:2222,box

Host *.lan
  User lanuser
  Port 2022

Host nojump
  ProxyJump none
`

func TestResolveSSHTarget(t *testing.T) {
	cfg, err := ssh_config.Decode(strings.NewReader(testSSHConfig))
	if err != nil {
		t.Fatal(err)
	}
	me := currentUser()
	tests := []struct {
		in   string
		want sshTarget
	}{
		{"box", sshTarget{alias: "box", host: "10.0.0.7", port: "2200", user: "build",
			identities: []string{"/h/.ssh/box_key", "/h/keys/build@10.0.0.7"}}},
		{"other@box:22", sshTarget{alias: "box", host: "10.0.0.7", port: "22", user: "other",
			identities: []string{"/h/.ssh/box_key", "/h/keys/other@10.0.0.7"}}},
		{"inner", sshTarget{alias: "inner", host: "inner.lan", port: "22", user: me,
			jumps: []string{"build@bastion:2222", "box"}}},
		{"x.lan", sshTarget{alias: "x.lan", host: "x.lan", port: "2022", user: "lanuser"}},
		{"nojump", sshTarget{alias: "nojump", host: "nojump", port: "22", user: me}},
		{"plain:23", sshTarget{alias: "plain", host: "plain", port: "23", user: me}},
	}
	for _, tt := range tests {
		got, err := resolveSSHTarget(tt.in, cfg, "/h")
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("resolveSSHTarget(%q) = %+v, %v\nwant %+v", tt.in, got, err, tt.want)
		}
	}
	got, err := resolveSSHTarget("box", nil, "/h")
	if want := (sshTarget{alias: "box", host: "box", port: "22", user: me}); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("without a config: %+v, %v; want %+v", got, err, want)
	}
}

func TestLoadSSHConfigHonoursHOME(t *testing.T) {
	home := t.TempDir()
	if cfg, err := loadSSHConfig(home, ""); cfg != nil || err != nil {
		t.Fatalf("no config file: %v, %v; want nil, nil", cfg, err)
	}
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(testSSHConfig), 0o600)
	cfg, err := loadSSHConfig(home, "")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := cfg.Get("box", "HostName"); v != "10.0.0.7" {
		t.Errorf("HostName of box = %q", v)
	}
}

func TestShellQuote(t *testing.T) {
	for _, s := range []string{"", "plain", "it's", "a b\tc", `$HOME "q" \ ; | &`, "''"} {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("sh printf %s = %q, %v; want %q", shellQuote(s), out, err, s)
		}
	}
}

func TestBootArgs(t *testing.T) {
	sp := Spec{Type: "ssh", Value: "h", Chdir: "/w", Env: []string{"A=1", "B=x=y"}}
	bin := func(goos, goarch string) (string, error) {
		if goos == "linux" && goarch == "arm64" {
			return "/nonexistent", nil
		}
		if goos == runtime.GOOS && goarch == runtime.GOARCH {
			exe, err := os.Executable()
			return exe, err
		}
		return "", fmt.Errorf("none")
	}
	args, err := bootArgs(sp, bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 4 || args[0] != "d:/w" || args[1] != "e:A=1" || args[2] != "e:B=x=y" ||
		!strings.HasPrefix(args[3], "p:"+runtime.GOOS+"/"+runtime.GOARCH+"=") {
		t.Errorf("bootArgs = %q", args)
	}
	sp.Env = []string{"BAD NAME=1"}
	if _, err := bootArgs(sp, bin); err == nil {
		t.Error("an invalid environment name was accepted")
	}
}

// runBootScript runs bootScript locally with HOME set to home, the way sshd
// would, feeding it stdin; it returns stdout.
func runBootScript(t *testing.T, home string, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-c", bootScript, "wasmnet-boot"}, args...)...)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.Output()
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return string(out)
}

func TestBootScriptLocally(t *testing.T) {
	// /bin/echo stands in for the agent: it prints its argument, "agent".
	data, err := os.ReadFile("/bin/echo")
	if err != nil {
		t.Fatalf("/bin/echo stands in for the agent: %v (install coreutils)", err)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	home := t.TempDir()
	plat := "p:" + runtime.GOOS + "/" + runtime.GOARCH + "=" + hash + ":" + strconv.Itoa(len(data))
	agent := filepath.Join(home, ".cache", "wasmnet", "agent-"+hash)

	out := runBootScript(t, home, nil, plat)
	if lines := strings.Split(out, "\n"); len(lines) < 2 || lines[1] != "wasmnet-boot need" ||
		!strings.HasPrefix(lines[0], "wasmnet-boot "+runtime.GOOS+" "+runtime.GOARCH+" ") {
		t.Fatalf("no cache, no upload: %q", out)
	}

	bad := append([]byte(fmt.Sprintf("%s %d\n", strings.Repeat("0", 64), gz.Len())), gz.Bytes()...)
	if out := runBootScript(t, home, bad, plat); !strings.Contains(out, "wasmnet-boot error upload: sha256") {
		t.Fatalf("wrong sha256 accepted: %q", out)
	}

	good := append([]byte(fmt.Sprintf("%s %d\n", hash, gz.Len())), gz.Bytes()...)
	out = runBootScript(t, home, good, plat)
	if !strings.HasSuffix(out, "wasmnet-boot exec uploaded "+agent+"\nagent\n") {
		t.Fatalf("upload: %q", out)
	}

	out = runBootScript(t, home, nil, plat, "d:"+filepath.Join(home, "w"))
	if !strings.HasSuffix(out, "wasmnet-boot exec cached "+agent+"\nagent\n") || strings.Contains(out, "need") {
		t.Fatalf("cached: %q", out)
	}
	left, _ := filepath.Glob(filepath.Join(home, ".cache", "wasmnet", ".agent-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if fi, err := os.Stat(filepath.Join(home, "w")); err != nil || !fi.IsDir() {
		t.Errorf("chdir did not create the directory: %v", err)
	}
}

func TestBootLineSkipsNoise(t *testing.T) {
	b := &booter{out: bufio.NewReader(strings.NewReader("Welcome!\nwasmnet-boot linux amd64 Linux x86_64\n"))}
	f, err := b.line()
	if err != nil || strings.Join(f, " ") != "linux amd64 Linux x86_64" {
		t.Fatalf("line() = %q, %v", f, err)
	}
}

// TestBootScriptRefusesOpenCache: an agent cache that others can write to
// (or that is a link) is not used: the planted agent in it never runs, and
// the uploaded one runs from a private temporary directory.
func TestBootScriptRefusesOpenCache(t *testing.T) {
	data, err := os.ReadFile("/bin/echo")
	if err != nil {
		t.Fatalf("/bin/echo stands in for the agent: %v (install coreutils)", err)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	plat := "p:" + runtime.GOOS + "/" + runtime.GOARCH + "=" + hash
	good := append([]byte(fmt.Sprintf("%s %d\n", hash, gz.Len())), gz.Bytes()...)

	for name, plant := range map[string]func(home string) string{
		"another user's": func(home string) string {
			c := filepath.Join(home, ".cache", "wasmnet")
			os.MkdirAll(c, 0o755)
			os.Chmod(c, 0o777)
			os.Chown(c, 4242, 4242)
			return c
		},
		"link": func(home string) string {
			other := t.TempDir()
			os.MkdirAll(filepath.Join(home, ".cache"), 0o700)
			os.Symlink(other, filepath.Join(home, ".cache", "wasmnet"))
			return other
		},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "another user's" && os.Getuid() != 0 {
				t.Skip("needs root to make another user's directory (CI runs as root)")
			}
			home := t.TempDir()
			dir := plant(home)
			planted := filepath.Join(dir, "agent-"+hash)
			if err := os.WriteFile(planted, []byte("#!/bin/sh\necho planted\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("/bin/sh", "-c", bootScript, "wasmnet-boot", plat)
			tmp := t.TempDir()
			cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "TMPDIR=" + tmp}
			cmd.Stdin = bytes.NewReader(good)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, _ := cmd.Output()
			if strings.Contains(string(out), "planted") || !strings.Contains(string(out), "wasmnet-boot need") {
				t.Fatalf("the planted agent ran, or no upload was asked for: %q", out)
			}
			if !strings.HasSuffix(string(out), "\nagent\n") || strings.Contains(string(out), dir) {
				t.Fatalf("the uploaded agent did not run from a private directory: %q", out)
			}
			if !strings.Contains(stderr.String(), "not private") {
				t.Errorf("stderr does not say why the cache was not used: %q", stderr.String())
			}
			if got, _ := os.ReadFile(planted); string(got) != "#!/bin/sh\necho planted\n" {
				t.Errorf("the planted agent was replaced: the cache was written to")
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("the temporary agent directory was left behind: %v", left)
			}
		})
	}

	// A world-writable cache of this user's is made private before use,
	// and an agent in it that is not this user's file never runs.
	if os.Getuid() == 0 {
		home := t.TempDir()
		c := filepath.Join(home, ".cache", "wasmnet")
		os.MkdirAll(c, 0o777)
		os.Chmod(filepath.Join(home, ".cache"), 0o777)
		os.Chmod(c, 0o777)
		planted := filepath.Join(c, "agent-"+hash)
		os.WriteFile(planted, []byte("#!/bin/sh\necho planted\n"), 0o755)
		os.Chown(planted, 4242, 4242)
		out := runBootScript(t, home, good, plat)
		if strings.Contains(out, "planted") || !strings.HasSuffix(out, "\nagent\n") {
			t.Fatalf("another user's agent in the cache: %q", out)
		}
		for d, want := range map[string]os.FileMode{c: 0o700, filepath.Join(home, ".cache"): 0o755} {
			if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s after use: %v, want mode %v", d, err, want)
			}
		}
	}

	// A new cache is made private.
	home := t.TempDir()
	runBootScript(t, home, nil, plat)
	for _, d := range []string{filepath.Join(home, ".cache"), filepath.Join(home, ".cache", "wasmnet")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s made with mode %v, want 0700", d, fi.Mode())
		}
	}
}

// TestBootScriptRefusesCacheUnderWritableDir: a cache below a directory
// that another user can write to (a group-writable HOME, a world-writable
// directory above it) can be swapped by that user between the script's
// check and its exec, so it is not used: an agent planted there, of the
// size the client expects, never runs (issue 23.8).
func TestBootScriptRefusesCacheUnderWritableDir(t *testing.T) {
	data, err := os.ReadFile("/bin/echo")
	if err != nil {
		t.Fatalf("/bin/echo stands in for the agent: %v (install coreutils)", err)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	plat := "p:" + runtime.GOOS + "/" + runtime.GOARCH + "=" + hash + ":" + strconv.Itoa(len(data))
	good := append([]byte(fmt.Sprintf("%s %d\n", hash, gz.Len())), gz.Bytes()...)
	planted := []byte("#!/bin/sh\necho planted\n#")
	planted = append(planted, bytes.Repeat([]byte("x"), len(data)-len(planted))...)

	for name, open := range map[string]func(home string){
		"group-writable home":  func(home string) { os.Chmod(home, 0o775) },
		"world-writable above": func(home string) { os.Chmod(filepath.Dir(home), 0o777) },
		"sticky above":         nil,
	} {
		t.Run(name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			c := filepath.Join(home, ".cache", "wasmnet")
			if err := os.MkdirAll(c, 0o700); err != nil {
				t.Fatal(err)
			}
			os.Chmod(home, 0o755)
			if err := os.WriteFile(filepath.Join(c, "agent-"+hash), planted, 0o755); err != nil {
				t.Fatal(err)
			}
			if open == nil {
				// A sticky directory above is safe, as /tmp is: the
				// cached agent is used as it is.
				os.Chmod(filepath.Dir(home), 0o777|os.ModeSticky)
				if out := runBootScript(t, home, nil, plat); !strings.Contains(out, "wasmnet-boot exec cached "+c) {
					t.Fatalf("the cache below a sticky directory was not used: %q", out)
				}
				return
			}
			open(home)
			tmp := t.TempDir()
			cmd := exec.Command("/bin/sh", "-c", bootScript, "wasmnet-boot", plat)
			cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "TMPDIR=" + tmp}
			cmd.Stdin = bytes.NewReader(good)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, _ := cmd.Output()
			if strings.Contains(string(out), "planted") || !strings.HasSuffix(string(out), "\nagent\n") ||
				strings.Contains(string(out), c) {
				t.Fatalf("the cache below a directory others can write to was used: %q", out)
			}
			if !strings.Contains(stderr.String(), "not private") {
				t.Errorf("stderr does not say why the cache was not used: %q", stderr.String())
			}
		})
	}
}
