package testutil

import (
	"encoding/json"
	"strings"
	"testing"
)

// MergedCounts parses what `wasmnet run --merge --json` prints for the
// wordcount guest, one {"Key": word, "Count": n} per line, into a map.
func MergedCounts(t testing.TB, out string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	for line := range strings.Lines(out) {
		var e struct {
			Type  string
			Key   string
			Count int64
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if e.Type != "" && e.Type != "count" {
			continue // the records of the run's end
		}
		got[e.Key] = e.Count
	}
	return got
}
