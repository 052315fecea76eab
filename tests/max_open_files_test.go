package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// TestAgentMaxOpenFilesFlag: --max-open-files sets how many files one
// execution may hold (1024 unless given), on `wasmnet agent` as on serve,
// which share the flag; a guest past it gets EMFILE, and a value out of
// range is refused naming the flag.
func TestAgentMaxOpenFilesFlag(t *testing.T) {
	agent := testwasm.Agent(t)
	guest := testwasm.Go(t, "fsattack")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := func(flags string) (held int, errText string) {
		t.Helper()
		r := runCLI(t, "run", "--json", "-g", "exec="+agent+" agent"+flags, "--dir", dir+":/g:ro",
			"--send", `{"op":"openmany","a":"/g/f"}`, guest)
		for _, line := range strings.Split(r.stdout, "\n") {
			var item struct {
				Type  string `json:"type"`
				Value struct {
					Err  string `json:"err"`
					Data int    `json:"data"`
				} `json:"value"`
			}
			if json.Unmarshal([]byte(line), &item) == nil && item.Type == "item" {
				return item.Value.Data, item.Value.Err
			}
		}
		t.Fatalf("agent%s: no answer; exit status %d, stderr %q", flags, r.code, r.stderr)
		return 0, ""
	}
	for _, tt := range []struct {
		flags    string
		min, max int
	}{
		{"", 1000, 1024},
		{" --max-open-files 8", 1, 8},
	} {
		held, errText := open(tt.flags)
		if held < tt.min || held > tt.max || !strings.Contains(strings.ToLower(errText), "too many open files") {
			t.Errorf("agent%s: the guest held %d files, then %q; want %d to %d, then EMFILE", tt.flags, held, errText, tt.min, tt.max)
		}
	}
	r := runCLI(t, "agent", "--max-open-files", "0")
	if r.code == 0 || !strings.Contains(r.stderr, "--max-open-files") {
		t.Errorf("agent --max-open-files 0: exit status %d, stderr %q; want it refused naming the flag", r.code, r.stderr)
	}
}
