package gateway

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// execnet's spec keys parse, with their values checked: a spec string is
// untrusted input. Unknown keys are refused unless they are a tool's (x-).
//
// execnet: testing/test_xspec.py::TestXSpec::test_norm_attributes and
// ::test_ssh_options_and_config
func TestSpecExecnetOptions(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(cfg, []byte("Host x\n  Port 2222\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := map[string]map[string]string{
		"popen//nice=3":                     {"nice": "3"},
		"ssh=h//nice=19//ssh_config=" + cfg: {"nice": "19", "ssh_config": cfg},
		"socket//installvia=p1//id=s1":      {"installvia": "p1"},
		"popen//x-worker-group=a//x-flag":   {"x-worker-group": "a", "x-flag": ""},
	}
	for spec, want := range good {
		sp, err := ParseSpec(spec)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", spec, err)
			continue
		}
		for k, v := range want {
			if got, ok := sp.Options[k]; !ok || got != v {
				t.Errorf("ParseSpec(%q).Options[%q] = %q, %v; want %q", spec, k, got, ok, v)
			}
		}
		if again, err := ParseSpec(sp.String()); err != nil || again.String() != sp.String() {
			t.Errorf("%q does not round-trip: %q, %v", spec, sp.String(), err)
		}
	}
	bad := map[string]string{
		"popen//nice=-1":                              "0 to 19",
		"popen//nice=20":                              "0 to 19",
		"popen//nice=3;rm -rf /":                      "0 to 19",
		"ssh=h//nice=" + strings.Repeat("9", 40):      "0 to 19",
		"ssh=h//ssh_config=" + cfg + ".missing":       "no such file",
		"ssh=h//ssh_config=" + filepath.Dir(cfg):      "not a regular file",
		"exec=agent//nice=3":                          "unknown option",
		"socket//id=s1":                               "installvia",
		"socket=h:1//installvia=p1":                   "takes no address",
		"socket//installvia=":                         "needs a gateway id",
		"popen//python=python3":                       "WebAssembly",
		"popen//chdri=/tmp":                           `"x-"`,
		"popen//x-":                                   "tool's key",
		"popen//x-Upper=1":                            "lower-case",
		"popen//x-k=" + strings.Repeat("v", 5000):     "more than",
		"popen//x-" + strings.Repeat("k", 100) + "=1": "tool's key",
	}
	for spec, want := range bad {
		if _, err := ParseSpec(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSpec(%.60q): got %v, want an error containing %q", spec, err, want)
		}
	}
}

// niceOf returns the nice value of every thread of process pid.
func niceOf(t *testing.T, pid int) []int {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading the agent's threads: %v", err)
	}
	var out []int
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			continue // the thread ended
		}
		// pid (comm) state ppid ... nice is field 19, the 17th after comm.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		n, err := strconv.Atoi(fields[16])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// A popen agent, and one started through a hop, runs lowered by nice=N
// steps, every thread of it.
//
// execnet: testing/test_xspec.py::TestMakegateway::test_popen_nice
func TestPopenNice(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Fatalf("nice= is implemented on linux only, not %s", runtime.GOOS)
	}
	base := niceOf(t, os.Getpid())[0]
	want := min(base+5, 19)
	plain := popen(t, "popen")
	nice := popen(t, "popen//nice=5//id=nicehop")
	behind := popen(t, "popen//nice=5//via=nicehop")
	for name, c := range map[string]struct {
		g    *Gateway
		want int
	}{"plain": {plain, base}, "nice": {nice, want}, "via": {behind, min(want+5, 19)}} {
		for _, n := range niceOf(t, c.g.Info().PID) {
			if n != c.want {
				t.Errorf("%s agent: a thread has nice %d, want %d", name, n, c.want)
			}
		}
	}
}

// ssh_config=FILE is read instead of ~/.ssh/config, as ssh -F FILE: its
// Host alias decides where the gateway connects.
//
// execnet: testing/test_gateway.py::TestSshPopenGateway::test_sshconfig_config_parsing
func TestSSHConfigOption(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: the connect is refused at once
	host, port, _ := net.SplitHostPort(addr)
	cfg := filepath.Join(t.TempDir(), "qwe")
	conf := "Host xyz\n  HostName " + host + "\n  Port " + port + "\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", t.TempDir()) // no ~/.ssh/config to fall back on
	_, err = Make(testCtx(t), "ssh=xyz//ssh_config="+cfg+"//connect_timeout=20s")
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("got %v, want a failed connect to %s, the address %s gives", err, addr, cfg)
	}
}
