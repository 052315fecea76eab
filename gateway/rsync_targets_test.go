package gateway

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRSyncTargetsAndCallbacks is execnet's RSync with add_target: one
// source, a destination per target (two on one gateway), a callback per
// file sent and one when each target is done.
func TestRSyncTargetsAndCallbacks(t *testing.T) {
	src := writeTree(t)
	w1, w2 := t.TempDir(), t.TempDir()
	g1 := popen(t, "popen//id=one//chdir="+w1)
	g2 := popen(t, "popen//id=two//chdir="+w2)

	var files []string
	rs := NewRSync(src, WithFileCallback(func(gw *Gateway, dest, p string) {
		files = append(files, gw.ID()+":"+dest+":"+p) // no lock: callbacks take turns
	}))
	var finished []string
	done := func(name string) func(RSyncStats, error) {
		return func(st RSyncStats, err error) {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			finished = append(finished, name)
		}
	}
	rs.Add(g1, "alpha", done("one:alpha"))
	rs.Add(g1, "beta", done("one:beta"))
	rs.Add(g2, "gamma", done("two:gamma"))
	stats, err := rs.Send(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, filepath.Join(w1, "alpha"))
	sameTree(t, src, filepath.Join(w1, "beta"))
	sameTree(t, src, filepath.Join(w2, "gamma"))
	slices.Sort(finished)
	if strings.Join(finished, " ") != "one:alpha one:beta two:gamma" {
		t.Errorf("finished callbacks %v", finished)
	}
	if len(stats) != 3 || stats[0].Files != 5 || stats[2].Files != 5 {
		t.Errorf("stats %+v", stats)
	}
	slices.Sort(files)
	var want []string
	for _, tg := range []string{"one:alpha", "one:beta", "two:gamma"} {
		for _, p := range []string{"a/b/c/deep.txt", "a/big.bin", "bin/run.sh", "empty", "top.txt"} {
			want = append(want, tg+":"+p)
		}
	}
	if !slices.Equal(files, want) {
		t.Errorf("file callbacks\n got %v\nwant %v", files, want)
	}

	// A target that fails reports through its callback and Send's error;
	// the others still finish.
	files, finished = nil, nil
	rs = NewRSync(src)
	var failErr error
	rs.Add(g1, "alpha", done("one:alpha"))
	rs.Add(g2, "/proc/no-such-place/x", func(_ RSyncStats, err error) { failErr = err })
	if _, err := rs.Send(testCtx(t)); err == nil || failErr == nil || !strings.Contains(err.Error(), "two") {
		t.Errorf("a failing target: Send %v, callback %v", err, failErr)
	}
	if len(finished) != 1 {
		t.Errorf("finished %v", finished)
	}
}
