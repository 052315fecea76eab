package main

import (
	"strings"
	"testing"
)

// TestMergeOverflowIsAnError: two guests whose counts sum beyond int64
// fail the run instead of printing a wrapped, negative count; so does one
// count beyond int64.
func TestMergeOverflowIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name, gateways, src, want string
	}{
		{"sum", "2*popen", `channel.send({"a": 9223372036854775807})`, `the counts of "a" sum beyond a 64-bit integer`},
		{"one", "popen", `channel.send({"a": 18446744073709551615})`, `a count of 18446744073709551615 for "a"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := wasmnet(t, "run", "-g", tc.gateways, "--merge", "-c", tc.src)
			if code != exitFailure || out != "" || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit status %d, stdout %q, want %d and an overflow error\n%s", code, out, exitFailure, stderr)
			}
		})
	}
}

func TestCountsAddOverflow(t *testing.T) {
	c := counts{"a": -9223372036854775807}
	if err := c.addOne("a", -2); err == nil {
		t.Errorf("MinInt64 - 1: no error, count %d", c["a"])
	}
	if err := c.addCounts(counts{"a": 9223372036854775807, "b": 1}); err != nil || c["a"] != 0 {
		t.Errorf("got %v, count %d, want 0", err, c["a"])
	}
}

// TestMergeNamesWhatWasSent: a guest that sends something else than a map
// of counts is told what it sent, in English.
func TestMergeNamesWhatWasSent(t *testing.T) {
	for src, want := range map[string]string{
		`channel.send(5)`:            "the guest sent an integer, not a map",
		`channel.send([1])`:          "the guest sent a list, not a map",
		`channel.send({"a": "x"})`:   `a map with a string for "a"`,
		`channel.send({1: 1, 2: 2})`: "a map with an integer as a key",
	} {
		_, stderr, code := wasmnet(t, "run", "-g", "popen", "--merge", "-c", src)
		if code != exitFailure || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit status %d, want %d and %q\n%s", src, code, exitFailure, want, stderr)
		}
	}
}
