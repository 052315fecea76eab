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

// readBytes is how many bytes process pid has read, from /proc/PID/io.
func readBytes(pid int) int64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// TestRunSurvivesLostGateway kills an agent in the middle of a
// --merge wordcount fed through a FIFO, so that the run cannot end before
// the test has killed it. The merged counts must equal the reference, the
// summary marks the lost gateway and the exit status is 0.
//
// "kill" kills an agent while input still flows: its chunks go to the
// others. "after-input" stops an agent, lets the input end (so every other
// guest has had its end of input and answers), then kills it: its chunks
// go to executions started again on the gateways left. "no-retries" kills
// one with --retries 0: the run fails and says why. "kill-shared" kills
// one of two agents that the four gateways share, losing two gateways.
func TestRunSurvivesLostGateway(t *testing.T) {
	var text bytes.Buffer
	corpus.Generate(&text, 1_500_000, 3)
	want := map[string]int64{}
	wordcount.Count(text.String(), want)
	for _, tc := range []struct {
		name      string
		retries   string
		stopFirst bool
		wantCode  int
		share     string // --share: false for an agent per gateway
		agents    int    // the agent processes of the four gateways
	}{
		{"kill", "2", false, 0, "false", 4},
		{"after-input", "2", true, 0, "false", 4},
		{"no-retries", "0", false, 1, "false", 4},
		// A shared agent serves two of the gateways: both are lost.
		{"kill-shared", "2", false, 0, "true", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "input")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// The trace says when each gateway's guest has answered.
			trace := filepath.Join(t.TempDir(), "trace")
			cmd := exec.CommandContext(ctx, testwasm.Agent(t), "run", "--debug="+trace, "-g", "4*popen", "--share="+tc.share, "--shared-agents", "2", "--input", fifo,
				"--chunk-size", "4KiB", "--merge", "--json", "--retries", tc.retries, testwasm.Go(t, "wordcount"))
			var stdout, stderr testutil.SyncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var agents []int
			defer func() {
				cmd.Process.Kill()
				for _, pid := range agents {
					syscall.Kill(pid, syscall.SIGKILL)
				}
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
			st, err := os.Stat(testwasm.Go(t, "wordcount"))
			if err != nil {
				t.Fatal(err)
			}
			// The victim is an agent that read input. Not every agent need
			// have: one that started late (a loaded machine) may find the
			// first half dealt to the others, and gets its share of the
			// second half, which is written only after the kill.
			var victim int
			testutil.WaitFor(t, "the agents, one of which read input", func() bool {
				agents = children(cmd.Process.Pid)
				if len(agents) != tc.agents {
					return false
				}
				for _, pid := range agents {
					if readBytes(pid) >= st.Size()+64<<10 { // the module, then input
						victim = pid
						return true
					}
				}
				return false
			})
			if tc.stopFirst {
				syscall.Kill(victim, syscall.SIGSTOP)
			} else {
				syscall.Kill(victim, syscall.SIGKILL)
			}
			// With --retries 0 the run may have failed and closed the FIFO.
			if _, err := w.Write(text.Bytes()[half:]); err != nil && tc.wantCode == 0 {
				t.Fatal(err)
			}
			w.Close()
			if tc.stopFirst {
				// Let the other guests have their end of input and answer.
				testutil.WaitFor(t, "three gateways whose guest answered", func() bool {
					return len(answered(trace)) >= 3
				})
				syscall.Kill(victim, syscall.SIGKILL)
			}
			err = cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != tc.wantCode {
				t.Fatalf("exit status %d (%v), want %d\n%s", code, err, tc.wantCode, stderr.String())
			}
			t.Logf("stderr:\n%s", stderr.String())
			if tc.wantCode != 0 {
				if !strings.Contains(stderr.String(), "--retries 0") {
					t.Fatalf("the error does not name --retries:\n%s", stderr.String())
				}
				return
			}
			if !strings.Contains(stderr.String(), "LOST") {
				t.Errorf("the summary does not mark the lost gateway:\n%s", stderr.String())
			}
			if !strings.Contains(stdout.String(), `{"type":"lost","gateway":"gw`) {
				t.Errorf("--json has no lost record:\n%s", stdout.String())
			}
			got := testutil.MergedCounts(t, stdout.String())
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("merged counts differ from a run without failure: %d words, want %d; the %q: %d, want %d",
					len(got), len(want), "the", got["the"], want["the"])
			}
		})
	}
}

// answered returns the gateways whose executions ended normally, as the
// client's lines of a --debug trace say ("gateway gw2: channel 5 closed").
func answered(trace string) map[string]bool {
	b, _ := os.ReadFile(trace)
	gws := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		_, event, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " client[")
		if !ok || !strings.HasSuffix(event, " closed") {
			continue
		}
		_, event, _ = strings.Cut(event, "] gateway ")
		if id, rest, ok := strings.Cut(event, ": channel "); ok && !strings.Contains(rest, ":") {
			gws[id] = true
		}
	}
	return gws
}
