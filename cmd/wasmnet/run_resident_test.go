//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/corpus"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wordcount"
)

// TestRunSurvivesKilledResident runs a --merge wordcount on two gateways of
// the resident agent and two popen processes, and kills the resident agent
// with SIGKILL while input still flows: the run deals its gateways' input
// again to the others, marks them LOST with the reason, and gives the
// counts of a run without failure. The next run starts a new resident.
func TestRunSurvivesKilledResident(t *testing.T) {
	home := testutil.ResidentHome(t)
	var text bytes.Buffer
	corpus.Generate(&text, 1_500_000, 3)
	want := map[string]int64{}
	wordcount.Count(text.String(), want)
	fifo := filepath.Join(t.TempDir(), "input")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	agent, wc := testwasm.Agent(t), testwasm.Go(t, "wordcount")
	cmd := exec.CommandContext(ctx, agent, "run", "-g", "2*popen//resident", "-g", "2*popen", "--input", fifo,
		"--chunk-size", "4KiB", "--merge", "--json", wc)
	var stdout, stderr testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	half := text.Len() / 2
	half += bytes.IndexByte(text.Bytes()[half:], ' ') + 1
	if _, err := w.Write(text.Bytes()[:half]); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(wc)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	testutil.WaitFor(t, "the resident agent's two gateways to read input", func() bool {
		pids := testutil.ResidentPIDs(t, home)
		if len(pids) != 1 {
			return false
		}
		pid = pids[0]
		return readBytes(pid) >= st.Size()+128<<10 // the module, then input
	})
	syscall.Kill(pid, syscall.SIGKILL)
	if _, err := w.Write(text.Bytes()[half:]); err != nil {
		t.Fatal(err)
	}
	w.Close()
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d (%v), want 0\n%s", code, err, stderr.String())
	}
	t.Logf("stderr:\n%s", stderr.String())
	if n := strings.Count(stderr.String(), "LOST"); n < 2 {
		t.Errorf("the summary marks %d gateways LOST, want the resident agent's 2:\n%s", n, stderr.String())
	}
	if !strings.Contains(stderr.String(), "resident agent (pid "+strconv.Itoa(pid)+") died") {
		t.Errorf("stderr does not say that the resident agent died:\n%s", stderr.String())
	}
	if got := testutil.MergedCounts(t, stdout.String()); !reflect.DeepEqual(got, want) {
		t.Fatalf("merged counts differ from a run without failure: %d words, want %d", len(got), len(want))
	}

	out, err := exec.CommandContext(ctx, agent, "run", "-g", "popen", "--resident", "--send", `"again"`, testwasm.Go(t, "echo")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `gw0: "again"`) {
		t.Fatalf("a run after the resident agent was killed: %v\n%s", err, out)
	}
	if pids := testutil.ResidentPIDs(t, home); len(pids) != 1 || pids[0] == pid {
		t.Fatalf("resident agents after the second run: %v, want one new one (not %d)", pids, pid)
	}
}
