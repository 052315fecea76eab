package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// jsonRecords parses run --json's output, checking that every line is an
// object with a "type".
func jsonRecords(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(out) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["type"] == nil {
			t.Fatalf("line %q: %v, or no type", line, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// TestRunJSONCarriesEverything: with --json, a guest's error, the run's own
// failure and the summary reach stdout as JSON objects, each with a type,
// the summary last and with the exit status.
func TestRunJSONCarriesEverything(t *testing.T) {
	out, stderr, code := wasmnet(t, "run", "-g", "2*popen", "--json", "--send", `"the guest gave up"`, testwasm.Go(t, "panic"))
	if code != exitFailure {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	recs := jsonRecords(t, out)
	errs := map[any]string{}
	for _, r := range recs {
		if r["type"] == "error" {
			errs[r["gateway"]], _ = r["error"].(string)
		}
	}
	for _, gw := range []string{"gw0", "gw1"} {
		if !strings.Contains(errs[gw], "the guest gave up") {
			t.Errorf("no error record for %s with the panic: %s", gw, out)
		}
	}
	last := recs[len(recs)-1]
	gws, _ := last["gateways"].([]any)
	if last["type"] != "summary" || last["exit_status"] != float64(exitFailure) || len(gws) != 2 {
		t.Fatalf("last record %v, want the summary of 2 gateways with exit status %d", last, exitFailure)
	}
	if g, _ := gws[0].(map[string]any); g["gateway"] != "gw0" || g["status"] != "error" {
		t.Errorf("summary of gw0: %v", g)
	}

	out, stderr, code = wasmnet(t, "run", "-g", "popen", "--json", "--timeout", "1s", testwasm.Go(t, "spin"))
	recs = jsonRecords(t, out)
	var runErr string
	for _, r := range recs {
		if r["type"] == "error" && r["gateway"] == nil {
			runErr, _ = r["error"].(string)
		}
	}
	if code != exitTimeout || !strings.Contains(runErr, "timed out") || recs[len(recs)-1]["exit_status"] != float64(exitTimeout) {
		t.Errorf("timeout: exit status %d, records %s\n%s", code, out, stderr)
	}

	out, _, code = wasmnet(t, "run", "-g", "2*popen", "--json", "--merge", "-c", `channel.send({"a": 1})`)
	recs = jsonRecords(t, out)
	if code != exitOK || len(recs) != 2 || recs[0]["type"] != "count" || recs[0]["count"] != 2.0 || recs[1]["type"] != "summary" {
		t.Errorf("merge: exit status %d, records %s", code, out)
	}
}

// TestRunGuestPanicPrintedOnce: a Go guest's panic and its goroutines
// reach stderr once, from the guest's own stderr, not again in the error.
func TestRunGuestPanicPrintedOnce(t *testing.T) {
	_, stderr, code := wasmnet(t, "run", "-g", "popen", "--send", `"the guest gave up"`, testwasm.Go(t, "panic"))
	if code != exitFailure || strings.Count(stderr, "goroutine 1 [running]") != 1 {
		t.Fatalf("exit status %d, want %d and the panic's goroutines once\n%s", code, exitFailure, stderr)
	}
}

// TestRunJSONUnreachable: a gateway that did not start is an
// "unreachable" record with its spec and reason, named once, and the
// summary has the partial run's exit status.
func TestRunJSONUnreachable(t *testing.T) {
	bad := `exec=sh -c "echo nope >&2; exit 1"//id=bad`
	out, stderr, code := wasmnet(t, "run", "-g", "popen", "-g", bad, "--json", "--send", "[1, 100]", "--take", "1", testwasm.Go(t, "primes"))
	recs := jsonRecords(t, out)
	var un map[string]any
	for _, r := range recs {
		if r["type"] == "unreachable" {
			un = r
		}
	}
	if code != exitPartial || un == nil || un["gateway"] != "bad" || un["spec"] != bad {
		t.Fatalf("exit status %d, records %s\n%s", code, out, stderr)
	}
	if msg, _ := un["error"].(string); !strings.Contains(msg, "nope") || strings.Contains(msg, "gateway") {
		t.Errorf("error %q: want the reason, without the gateway named again", msg)
	}
	if last := recs[len(recs)-1]; last["exit_status"] != float64(exitPartial) {
		t.Errorf("summary %v, want exit status %d", last, exitPartial)
	}
}
