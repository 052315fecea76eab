package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/corpus"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wordcount"
)

// TestRunSurvivesGatewayLostAtStart kills an agent while it compiles its
// first module, before its guest started: the job completes with the exact
// answer from the others (issue 24, item 2). The agents share a fresh
// compilation cache, so each is sent the module and compiles it; the
// victim is stopped once it has read the whole module and before the
// client heard that its execution started, then killed.
func TestRunSurvivesGatewayLostAtStart(t *testing.T) {
	var text bytes.Buffer
	corpus.Generate(&text, 400_000, 5)
	want := map[string]int64{}
	wordcount.Count(text.String(), want)
	input := filepath.Join(t.TempDir(), "input.txt")
	if err := os.WriteFile(input, text.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// Each attempt can miss the window (the agent compiled before it was
	// stopped); that is told apart from a failure, and bounded.
	for attempt := range 3 {
		if lostAtStartAttempt(t, input, want) {
			return
		}
		t.Logf("attempt %d: the victim's guest had started before it was stopped; again", attempt+1)
	}
	t.Fatal("no attempt stopped an agent before its guest started")
}

// lostAtStartAttempt runs the job once, and reports whether an agent was
// killed before its guest started.
func lostAtStartAttempt(t *testing.T, input string, want map[string]int64) bool {
	wasm := testwasm.Go(t, "wordcount")
	st, err := os.Stat(wasm)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a hang, not a goal
	defer cancel()
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.CommandContext(ctx, testwasm.Agent(t), "run", "--debug="+trace, "-g", "4*popen", "--input", input,
		"--chunk-size", "8KiB", "--merge", "--json", wasm)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
	var stdout, stderr testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	victim := 0
	defer func() {
		cmd.Process.Kill()
		if victim != 0 {
			syscall.Kill(victim, syscall.SIGKILL)
		}
		cmd.Wait()
	}()
	deadline := time.Now().Add(5 * time.Minute)
	for victim == 0 && time.Now().Before(deadline) {
		for _, pid := range children(cmd.Process.Pid) {
			if readBytes(pid) >= st.Size() {
				syscall.Kill(pid, syscall.SIGSTOP)
				victim = pid
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	if victim == 0 {
		t.Fatalf("no agent read the module within 5 minutes\n%s", stderr.String())
	}
	id := gatewayOfPID(trace, victim)
	if id == "" {
		t.Fatalf("the trace names no gateway with agent pid %d", victim)
	}
	started := execStarted(trace, id)
	syscall.Kill(victim, syscall.SIGKILL)
	err = cmd.Wait()
	if started {
		return false
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d (%v), want 0\n%s", code, err, stderr.String())
	}
	if !strings.Contains(stderr.String(), id+": lost") {
		t.Errorf("stderr does not say %s was lost:\n%s", id, stderr.String())
	}
	if got := testutil.MergedCounts(t, stdout.String()); !reflect.DeepEqual(got, want) {
		t.Fatalf("merged counts differ from internal/wordcount's: %d words, want %d", len(got), len(want))
	}
	return true
}

// gatewayOfPID returns the id of the gateway whose agent is pid, from the
// client's "gateway gw1: up in ...: agent pid N," trace line.
func gatewayOfPID(trace string, pid int) string {
	b, _ := os.ReadFile(trace)
	mark := fmt.Sprintf(": agent pid %d,", pid)
	for line := range strings.Lines(string(b)) {
		if _, event, ok := strings.Cut(line, "] gateway "); ok && strings.Contains(event, mark) {
			id, _, _ := strings.Cut(event, ":")
			return id
		}
	}
	return ""
}

// execStarted says whether the client traced the start of an execution
// on gateway id.
func execStarted(trace, id string) bool {
	b, _ := os.ReadFile(trace)
	return strings.Contains(string(b), "] gateway "+id+": exec started on")
}
