package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// wasmnet runs the wasmnet binary built from the current sources and
// returns its stdout, stderr and exit status. It is bounded to a minute.
func wasmnet(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout) // a hang, not a goal
	defer cancel()
	cmd := exec.CommandContext(ctx, testwasm.Agent(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee) && ctx.Err() == nil:
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	t.Fatalf("wasmnet %q: %v\nstderr: %s", args, err, stderr.String())
	return "", "", 0
}

// writeCorpus writes a test corpus into a new directory and returns it
// with the counts internal/wordcount gives for it, file by file.
func writeCorpus(t *testing.T) (string, map[string]int64) {
	t.Helper()
	dir := t.TempDir()
	want := map[string]int64{}
	add := func(name string, text []byte) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, text, 0o644); err != nil {
			t.Fatal(err)
		}
		wordcount.Count(string(text), want)
	}
	for i := range 3 {
		var b bytes.Buffer
		corpus.Generate(&b, 100_000+i*7919, int64(i))
		add(fmt.Sprintf("part-%d.txt", i), b.Bytes())
	}
	// No final white space (the next file must not continue its last word),
	// a word longer than a chunk, and runes of several bytes.
	long := strings.Repeat("x", 40_000)
	add("sub/edge.txt", []byte("Ünïcödé words, ÜNÏCÖDÉ\u00a0words "+long+" end\u2003of file"))
	return dir, want
}

func TestRunWordcountMatchesReference(t *testing.T) {
	dir, want := writeCorpus(t)
	out, stderr, code := wasmnet(t, "run", "-g", "3*popen", "--input", dir, "--chunk-size", "16KiB",
		"--merge", "--json", testwasm.Go(t, "wordcount"))
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	got := testutil.MergedCounts(t, out)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("merged counts differ from internal/wordcount's: %d words, want %d", len(got), len(want))
	}
	for _, gw := range []string{"gw0", "gw1", "gw2"} {
		if !strings.Contains(stderr, gw) {
			t.Errorf("summary lacks %s:\n%s", gw, stderr)
		}
	}
}

func TestRunTop(t *testing.T) {
	dir, want := writeCorpus(t)
	out, stderr, code := wasmnet(t, "run", "-g", "2*popen", "--input", dir, "--merge", "--top", "3",
		testwasm.Go(t, "wordcount"))
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %q, want 3 lines", out)
	}
	first := strings.Fields(lines[0])
	if n, _ := strconv.ParseInt(first[0], 10, 64); first[1] != "the" || n != want["the"] {
		t.Fatalf("first line %q, want %d the", lines[0], want["the"])
	}
}

func TestRunJSONOutput(t *testing.T) {
	out, stderr, code := wasmnet(t, "run", "-g", "2*popen", "--json", "--take", "3",
		"--send", `"text"`, "--send", `{"n": 1, "f": 1.5, "l": [null, true]}`, "--send", "-7",
		testwasm.Go(t, "echo"))
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
	perGateway := map[string][]any{}
	for line := range strings.Lines(out) {
		var rec struct {
			Gateway string
			Value   any
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		perGateway[rec.Gateway] = append(perGateway[rec.Gateway], rec.Value)
	}
	want := []any{"text", map[string]any{"n": 1.0, "f": 1.5, "l": []any{nil, true}}, -7.0}
	for _, gw := range []string{"gw0", "gw1"} {
		if !reflect.DeepEqual(perGateway[gw], want) {
			t.Errorf("%s sent %v, want %v", gw, perGateway[gw], want)
		}
	}
}

func TestRunPlainOutput(t *testing.T) {
	out, stderr, code := wasmnet(t, "run", "-g", "popen", "--take", "1", "--send", "[1, 1000]", testwasm.Go(t, "primes"))
	if code != 0 || out != "gw0: 168\n" {
		t.Fatalf("exit status %d, stdout %q\n%s", code, out, stderr)
	}
}

func TestRunGuestPanic(t *testing.T) {
	_, stderr, code := wasmnet(t, "run", "-g", "2*popen", "--send", `"the guest gave up"`, testwasm.Go(t, "panic"))
	if code != 1 || !strings.Contains(stderr, "gw1: remote error") || !strings.Contains(stderr, "the guest gave up") {
		t.Fatalf("exit status %d, want 1 and the panic\n%s", code, stderr)
	}
}

// TestRunTimeout: --timeout ends a run whose guests never end. (A guest
// that waits for input, such as sleeper, ends at the end of its input,
// which run now gives by a half-close; spin computes forever.)
func TestRunTimeout(t *testing.T) {
	start := time.Now()
	_, stderr, code := wasmnet(t, "run", "-g", "2*popen", "--timeout", "500ms", testwasm.Go(t, "spin"))
	if code != exitTimeout || !strings.Contains(stderr, "timed out") {
		t.Fatalf("exit status %d, want %d and a timeout\n%s", code, exitTimeout, stderr)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("took %v", took)
	}
}

// children returns the pids of the processes whose parent is pid.
func children(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		_, rest, _ := strings.Cut(string(b), ") ")
		f := strings.Fields(rest) // state, ppid, ...
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, child)
		}
	}
	return out
}

// TestRunInterrupt interrupts runs whose guests block in a receive or spin,
// on agents that serve two gateways and one: the status is 130 and no
// agent is left. Their input is a FIFO that stays
// open and empty, so that the sleeper waits for input that never ends.
func TestRunInterrupt(t *testing.T) {
	for _, guest := range []string{"sleeper", "spin"} {
		t.Run(guest, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "input")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			// Read-write, so that opening it does not wait for wasmnet.
			w, err := os.OpenFile(fifo, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			cmd := exec.Command(testwasm.Agent(t), "run", "-g", "3*popen", "--shared-agents", "2", "--input", fifo, testwasm.Go(t, guest))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			started := make(chan struct{}, 16)
			go func() { // ends when wasmnet ends and its stdout closes
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if strings.HasSuffix(sc.Text(), `: "started"`) {
						started <- struct{}{}
					}
				}
			}()
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()

			// Each guest prints gwN: "started" once it runs.
			timeout := time.After(testutil.WaitTimeout)
			for range 3 {
				select {
				case <-started:
				case <-waited:
					t.Fatalf("wasmnet ended early\n%s", stderr.String())
				case <-timeout:
					t.Fatalf("the guests did not start\n%s", stderr.String())
				}
			}
			// Three gateways on two shared agents: one serves two guests.
			agents := children(cmd.Process.Pid)
			if len(agents) != 2 {
				t.Fatalf("wasmnet runs %d agents, want 2: %v", len(agents), agents)
			}
			cmd.Process.Signal(syscall.SIGINT)

			select {
			case <-waited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				for _, pid := range agents {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				t.Fatal("wasmnet did not end after SIGINT")
			}
			if code := cmd.ProcessState.ExitCode(); code != 130 {
				t.Fatalf("exit status %d, want 130\n%s", code, stderr.String())
			}
			for _, pid := range agents {
				if testutil.ProcessRunning(pid) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Errorf("agent %d outlived wasmnet", pid)
				}
			}
		})
	}
}

func TestSplitFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	text := "alpha beta\tgamma\n" + strings.Repeat("y", 30) + " délta épsilon"
	os.WriteFile(p, []byte(text), 0o644)
	var chunks []string
	if err := splitFile(p, 8, func(c []byte) error { chunks = append(chunks, string(c)); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(chunks, ""); got != text+"\n" {
		t.Fatalf("chunks join to %q", got)
	}
	for _, c := range chunks[:len(chunks)-1] {
		if c[len(c)-1] != ' ' && c[len(c)-1] != '\t' && c[len(c)-1] != '\n' {
			t.Fatalf("chunk %q splits a word (all: %q)", c, chunks)
		}
	}
}

func TestJSONValues(t *testing.T) {
	v, err := parseJSONValue(`{"i": 3, "f": 2.5, "a": [1, "x", null]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"i": int64(3), "f": 2.5, "a": []any{int64(1), "x", nil}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v", v)
	}
	b, _ := marshalJSON(toJSON(map[any]any{int64(1): []byte("ok"), "bin": []byte{0xff, 0}}))
	if string(b) != `{"1":"ok","bin":"/wA="}` {
		t.Fatalf("got %s", b)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1048570: "1.0 MiB", 1 << 20: "1.0 MiB", 1536 << 10: "1.5 MiB",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
