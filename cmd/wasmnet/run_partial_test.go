package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// badSpec is a gateway that cannot start: its agent does not exist.
const badSpec = "popen//agent=/nonexistent/wasmnet"

// TestRunPartialFleet: a gateway that does not start costs its share, not
// the run. The others give the exact answer; the one left out is named
// with why, and the exit status says the fleet was partial.
func TestRunPartialFleet(t *testing.T) {
	dir, want := writeCorpus(t)
	out, stderr, code := wasmnet(t, "run", "-g", "2*popen", "-g", badSpec, "--input", dir, "--chunk-size", "16KiB",
		"--merge", "--json", testwasm.Go(t, "wordcount"))
	if code != exitPartial {
		t.Fatalf("exit status %d, want %d\n%s", code, exitPartial, stderr)
	}
	if got := testutil.MergedCounts(t, out); !reflect.DeepEqual(got, want) {
		t.Fatalf("merged counts differ from internal/wordcount's: %d words, want %d", len(got), len(want))
	}
	for _, line := range []string{"gw2: did not start (" + badSpec + "): ", "1 of 3 gateways did not start"} {
		if !strings.Contains(stderr, line) {
			t.Errorf("stderr lacks %q:\n%s", line, stderr)
		}
	}
}

// TestRunMinGateways: --min-gateways makes too few a failure, with no
// answer, and still names the gateways that did not start.
func TestRunMinGateways(t *testing.T) {
	dir, _ := writeCorpus(t)
	for _, min := range []string{"3", "0.9"} {
		out, stderr, code := wasmnet(t, "run", "-g", "2*popen", "-g", badSpec, "--min-gateways", min, "--input", dir,
			"--merge", testwasm.Go(t, "wordcount"))
		if code != exitFailure || out != "" || !strings.Contains(stderr, "gw2: did not start") ||
			!strings.Contains(stderr, "2 of 3 gateways started, fewer than --min-gateways "+min) {
			t.Errorf("--min-gateways %s: exit status %d, stdout %q\n%s", min, code, out, stderr)
		}
	}
	out, stderr, code := wasmnet(t, "run", "-g", "2*popen", "-g", badSpec, "--min-gateways", "0.5",
		"--take", "1", "--send", "[1, 100]", testwasm.Go(t, "primes"))
	if code != exitPartial || strings.Count(out, ": 25\n") != 2 {
		t.Errorf("--min-gateways 0.5: exit status %d, stdout %q\n%s", code, out, stderr)
	}
	for _, bad := range []string{"0", "-1", "1.5", "x", "0.0"} {
		if _, stderr, code := wasmnet(t, "run", "-g", "popen", "--min-gateways", bad, testwasm.Go(t, "primes")); code == 0 || !strings.Contains(stderr, "--min-gateways") {
			t.Errorf("--min-gateways %s: exit status %d\n%s", bad, code, stderr)
		}
	}
}
