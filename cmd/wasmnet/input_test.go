package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

// hasOpen waits until process pid has path open, or a minute passes.
func hasOpen(t *testing.T, pid int, path string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		fds, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/fd/*")
		for _, fd := range fds {
			if target, _ := os.Readlink(fd); target == path {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d never opened %s", pid, path)
}

// TestInputFIFOHonoursTimeoutAndSignals reads --input and -g @FILE from a
// FIFO that no one ever writes to: --timeout, SIGTERM and SIGINT each still
// end the command, with their exit status.
func TestInputFIFOHonoursTimeoutAndSignals(t *testing.T) {
	module := testwasm.Go(t, "wordcount")
	for _, tc := range []struct {
		name   string
		args   func(fifo string) []string
		signal syscall.Signal // 0: --timeout ends it
		want   int
	}{
		{"input-timeout", func(p string) []string { return []string{"-g", "popen", "--timeout", "1s", "--input", p} }, 0, exitTimeout},
		{"input-SIGTERM", func(p string) []string { return []string{"-g", "popen", "--input", p} }, syscall.SIGTERM, exitInterrupted},
		{"input-SIGINT", func(p string) []string { return []string{"-g", "popen", "--input", p} }, syscall.SIGINT, exitInterrupted},
		{"inventory-timeout", func(p string) []string { return []string{"-g", "@" + p, "--timeout", "1s"} }, 0, exitTimeout},
		{"inventory-SIGTERM", func(p string) []string { return []string{"-g", "@" + p} }, syscall.SIGTERM, exitInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			args := append([]string{"run"}, tc.args(fifo)...)
			cmd := exec.CommandContext(ctx, testwasm.Agent(t), append(args, module)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if tc.signal != 0 {
				hasOpen(t, cmd.Process.Pid, fifo)
				cmd.Process.Signal(tc.signal)
			}
			cmd.Wait()
			if ctx.Err() != nil {
				t.Fatalf("still running after a minute\n%s", stderr.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != tc.want {
				t.Fatalf("exit status %d, want %d\n%s", code, tc.want, stderr.String())
			}
		})
	}
}

// TestStatusInventoryFIFOTimeout: status gives up an inventory that never
// comes after its --timeout.
func TestStatusInventoryFIFOTimeout(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := wasmnet(t, "status", "-g", "@"+fifo, "--timeout", "1s")
	if code != exitFailure || !strings.Contains(stderr, "inventory") {
		t.Fatalf("exit status %d, want %d\n%s", code, exitFailure, stderr)
	}
}

// TestRunModuleNotRegular: a module that is a FIFO is refused, not read.
func TestRunModuleNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "m.wasm")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := wasmnet(t, "run", "-g", "popen", fifo)
	if code != exitFailure || !strings.Contains(stderr, "not a regular file") {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
}
