package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestStatusFleet asks an inventory of gateways for their status: two
// agents answer, one host refuses, one accepts and never speaks. Each gets
// its row, the silent one within the per-host timeout, and the exit status
// says that not all answered.
func TestStatusFleet(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never written to, until the test ends
		}
	}()
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedAddr := refused.Addr().String()
	refused.Close()

	inv := filepath.Join(t.TempDir(), "fleet")
	os.WriteFile(inv, []byte("2*popen\nsocket="+refusedAddr+"//insecure_plain\nsocket="+silent.Addr().String()+"//insecure_plain//id=silent\n"), 0o644)
	start := time.Now()
	out, stderr, code := wasmnet(t, "status", "-g", "@"+inv, "--json", "--timeout", "2s")
	took := time.Since(start)
	if code != 1 {
		t.Fatalf("exit status %d, want 1\n%s\n%s", code, out, stderr)
	}
	var rows []statusRow
	for line := range strings.Lines(out) {
		var r statusRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4:\n%s", len(rows), out)
	}
	for _, r := range rows[:2] {
		if r.Status == nil || r.Status.Version == "" || r.Status.OS == "" || r.RTT <= 0 || r.Error != "" {
			t.Errorf("row %+v: want a status and a round trip", r)
		}
	}
	if rows[2].Error == "" || rows[3].Error == "" || rows[3].ID != "silent" {
		t.Errorf("rows %+v, %+v: want errors", rows[2], rows[3])
	}
	t.Logf("took %v\n%s", took, out)

	table, _, _ := wasmnet(t, "status", "-g", "2*popen")
	if !strings.Contains(table, "EXECUTIONS") || strings.Count(table, " ok ") != 2 {
		t.Errorf("table:\n%s", table)
	}
	// The agents' working directory (execnet's _rinfo().cwd), in the table
	// and in the JSON with the executable.
	wd, _ := os.Getwd()
	if strings.Count(table, " "+wd+"\n") != 2 {
		t.Errorf("table without the agents' working directory %s:\n%s", wd, table)
	}
	if st := rows[0].Status; st == nil || st.Cwd != wd || st.Executable == "" {
		t.Errorf("JSON status %+v: want cwd %s and an executable", st, wd)
	}
}

// TestStatusEscapesAgentText: what an agent says of itself (version,
// OS/arch) and what ends up in an error (its stderr's tail) reaches the
// terminal escaped, one row per gateway whatever it holds.
func TestStatusEscapesAgentText(t *testing.T) {
	rows := []statusRow{
		{ID: "gw0", Status: &gateway.Status{Version: "1\x1b]0;pwned\x07", OS: "linux\u009b2J", Arch: "amd64\u202e"}},
		{ID: "gw1", Error: "agent failed to start; stderr: \x1b[2J\nline two\ttab"},
	}
	cmd := &cobra.Command{}
	var out bytes.Buffer
	cmd.SetOut(&out)
	if err := printStatusTable(cmd, rows); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out.String(), "\x1b\x07\u009b\u202e") {
		t.Errorf("raw controls in the table:\n%q", out.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("%d lines, want a header and two rows:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), `\x1b]0;pwned\x07`) {
		t.Errorf("the version is not shown escaped:\n%s", out.String())
	}

	// An agent that fails to start with an escape on its stderr.
	table, stderr, code := wasmnet(t, "status", `exec=sh -c "printf '\033]0;pwned\007' >&2; exit 1"`)
	if code != exitFailure || strings.ContainsAny(table+stderr, "\x1b\x07") || !strings.Contains(table, "pwned") {
		t.Errorf("exit status %d; table %q; stderr %q", code, table, stderr)
	}
}

// TestStatusJSONKeys: status --json has one key style, snake_case, at
// every level.
func TestStatusJSONKeys(t *testing.T) {
	out, stderr, code := wasmnet(t, "status", "popen", "--json")
	if code != exitOK {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(out), &row); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	var check func(path string, v any)
	check = func(path string, v any) {
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, x := range obj {
			if strings.ToLower(k) != k || strings.ContainsAny(k, " -") {
				t.Errorf("key %s%s is not snake_case", path, k)
			}
			check(path+k+".", x)
		}
	}
	check("", row)
	if st, _ := row["status"].(map[string]any); st["modules_cached"] == nil || st["version"] == nil {
		t.Errorf("status lacks modules_cached or version: %s", out)
	}
}

// TestStatusNamesAsRunDoes: status starts gateways as run does, so a hop
// named in the same command works, and unnamed gateways get the same ids
// in both (issue 24, item 5).
func TestStatusNamesAsRunDoes(t *testing.T) {
	specs := []string{"popen//id=hop", "popen//via=hop", "popen"}
	out, stderr, code := wasmnet(t, "status", "--json", specs[0], specs[1], specs[2])
	if code != 0 {
		t.Fatalf("status: exit status %d\n%s\n%s", code, out, stderr)
	}
	var ids []string
	for line := range strings.Lines(out) {
		var r statusRow
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Error != "" {
			t.Fatalf("line %q: %v", line, err)
		}
		ids = append(ids, r.ID)
	}
	args := []string{"run", "--take", "1", "--send", "[1, 100]"}
	for _, s := range specs {
		args = append(args, "-g", s)
	}
	out, stderr, code = wasmnet(t, append(args, testwasm.Go(t, "primes"))...)
	if code != 0 {
		t.Fatalf("run: exit status %d\n%s", code, stderr)
	}
	for _, id := range ids {
		if !strings.Contains(out, id+": 25\n") {
			t.Errorf("status named the gateways %v; run printed %q", ids, out)
		}
	}
	if want := []string{"hop", "gw0", "gw1"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("status ids %v, want %v", ids, want)
	}
}
