package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// threadNices returns the nice value of every thread of process pid.
func threadNices(t *testing.T, pid int) []int {
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
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		n, err := strconv.Atoi(fields[16]) // nice, field 19 of stat
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// An ssh= gateway reads the ssh_config=FILE it names instead of
// ~/.ssh/config (ssh -F), and its agent runs lowered by nice=N.
//
// execnet: testing/test_gateway.py::TestSshPopenGateway::test_sshconfig_config_parsing
// and testing/test_xspec.py::TestMakegateway::test_popen_nice
func TestSSHConfigFileAndNice(t *testing.T) {
	warm(t)
	s := startSSHD(t)
	home := s.ClientHome(t, true, false)
	cfg := filepath.Join(t.TempDir(), "qwe")
	conf := fmt.Sprintf("Host xyz\n  HostName %s\n  Port %s\n  User %s\n  IdentityFile %s\n", s.Host, s.Port, s.User, s.UserKey)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, ".ssh", "config")); err == nil {
		t.Fatal("the client home has a ~/.ssh/config: the test would not show which file was read")
	}
	g := makeGateway(t, "ssh=xyz//ssh_config="+cfg+"//nice=7")
	base := threadNices(t, os.Getpid())[0]
	for _, n := range threadNices(t, g.Info().PID) {
		if n != min(base+7, 19) {
			t.Errorf("a thread of the ssh agent has nice %d, want %d", n, min(base+7, 19))
		}
	}
	checkWordcount(t, g)
	exitGateway(t, g)
	waitNoProcs(t, s.agentProcs(), 5*time.Second)
}
