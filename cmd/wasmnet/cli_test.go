package main

import (
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

func TestVersionFlag(t *testing.T) {
	out, stderr, code := wasmnet(t, "--version")
	if code != exitOK || !strings.HasPrefix(out, "wasmnet ") || !strings.Contains(out, "protocol v1") {
		t.Fatalf("--version: exit status %d, stdout %q\n%s", code, out, stderr)
	}
	if sub, _, _ := wasmnet(t, "version"); sub != out {
		t.Errorf("--version printed %q, version %q", out, sub)
	}
}

// TestUsageErrors checks that a mistake in the command line exits with
// status 2 and says what was meant and what is valid.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"misspelt flag", []string{"run", "--tmeout", "1s", "-c", "1"}, []string{`did you mean "--timeout"?`, "--chunk-size", "--take"}},
		{"unknown shorthand", []string{"status", "-x"}, []string{"unknown flag -x", "--gateway"}},
		{"misspelt type", []string{"run", "-g", "popn", "-c", "1"}, []string{`did you mean "popen"?`, "inproc"}},
		{"misspelt option", []string{"run", "-g", "popen//agnt=/x", "-c", "1"}, []string{`did you mean "agent"?`, "chdir"}},
		{"no module", []string{"run", "-g", "popen"}, []string{"name a module"}},
		{"bad --send", []string{"run", "--send", "{x", "-c", "1"}, []string{"--send {x"}},
		{"extra argument", []string{"version", "x"}, []string{"version: "}},
		{"no gateway", []string{"status"}, []string{"no gateway given"}},
		{"unknown command", []string{"rnu"}, []string{`unknown command "rnu"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := wasmnet(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit status %d, want %d\n%s", code, exitUsage, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Count(stderr, "wasmnet:") != 1 {
				t.Errorf("want one wasmnet: prefix:\n%s", stderr)
			}
		})
	}
}

// firstRecord is the first line of what run --json printed: its first
// item, before the records of the run's end.
func firstRecord(out string) string {
	line, _, _ := strings.Cut(out, "\n")
	return line
}

// TestRefusalNamesTheFlag: an agent's refusal says which flag or key
// option would allow what was refused.
func TestRefusalNamesTheFlag(t *testing.T) {
	agent := testwasm.Agent(t)
	dir := t.TempDir()
	_, stderr, code := wasmnet(t, "run", "-g", "exec="+agent+" agent --no-dir-grants", "--dir", dir+":/d", "-c", "1")
	if code != exitFailure || !strings.Contains(stderr, "grants no directories") ||
		!strings.Contains(stderr, "--allow-dir-grants") || !strings.Contains(stderr, "restrict") {
		t.Errorf("directory grant: exit status %d\n%s", code, stderr)
	}
	_, stderr, code = wasmnet(t, "run", "-g", "popen", "--memory-limit", "1MiB", "--send", "[1, 10]", "--take", "1", testwasm.Go(t, "primes"))
	if code != exitFailure || !strings.Contains(stderr, "over its limit of 1 MiB") || !strings.Contains(stderr, "--memory-limit") {
		t.Errorf("memory limit: exit status %d\n%s", code, stderr)
	}
	out, stderr, code := wasmnet(t, "rsync", "-g", "exec="+agent+" agent --no-rsync", dir, t.TempDir())
	if code != exitFailure || !strings.Contains(out+stderr, "--allow-rsync") {
		t.Errorf("rsync: exit status %d\n%s%s", code, out, stderr)
	}
}
