package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/internal/testutil"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		bad  bool
	}{
		{in: "", want: nil},
		{in: "  a  b\tc\n", want: []string{"a", "b", "c"}},
		{in: `qemu-aarch64-static ./wasmnet agent`, want: []string{"qemu-aarch64-static", "./wasmnet", "agent"}},
		{in: `'a b' "c d" e\ f`, want: []string{"a b", "c d", "e f"}},
		{in: `x'y'"z"`, want: []string{"xyz"}},
		{in: `'' ""`, want: []string{"", ""}},
		{in: `"a \"b\" \$c \x"`, want: []string{`a "b" $c \x`}},
		{in: `'it'\''s'`, want: []string{"it's"}},
		{in: `$HOME ~ *`, want: []string{"$HOME", "~", "*"}},
		{in: `'open`, bad: true},
		{in: `"open`, bad: true},
		{in: `trailing\`, bad: true},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.in)
		if tt.bad != (err != nil) || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func startExecTest(t *testing.T, spec string) *link {
	t.Helper()
	sp, err := ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	l, err := startExec(context.Background(), sp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.kill(); l.wait() })
	return l
}

func TestExecCat(t *testing.T) {
	l := startExecTest(t, "exec=cat")
	roundTrip(t, l, bufio.NewReader(l.conn))
	closeAndWait(t, l)
}

func TestExecChdirEnv(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "made")
	l := startExecTest(t, `exec=sh -c 'echo "$PWD $WASMNET_T"; exec cat'//chdir=`+dir+`//env:WASMNET_T=v 1`)
	r := bufio.NewReader(l.conn)
	if got, err := r.ReadString('\n'); got != dir+" v 1\n" {
		t.Fatalf("got %q, %v; want %q", got, err, dir+" v 1\n")
	}
	roundTrip(t, l, r)
	closeAndWait(t, l)
}

func TestExecMissingCommand(t *testing.T) {
	sp, _ := ParseSpec("exec=/nonexistent/agent --flag")
	_, err := startExec(context.Background(), sp)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "/nonexistent/agent") {
		t.Fatalf("got %v; want a not-exist error naming the command", err)
	}
	sp, _ = ParseSpec("exec=no-such-wasmnet-command")
	if _, err = startExec(context.Background(), sp); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("got %v; want an error saying it was not found", err)
	}
	sp, _ = ParseSpec("exec='unterminated")
	if _, err = startExec(context.Background(), sp); err == nil || !strings.Contains(err.Error(), "unterminated") {
		t.Fatalf("got %v", err)
	}
}

func TestExecAgentStartFails(t *testing.T) {
	l := startExecTest(t, `exec=sh -c 'echo cannot start >&2; exit 7'`)
	_, err := l.conn.Read(make([]byte, 1))
	var se *AgentStartError
	if !errors.As(err, &se) || !errors.Is(err, ErrAgentStart) || !strings.Contains(err.Error(), "cannot start") {
		t.Fatalf("read: %v; want an *AgentStartError with the stderr", err)
	}
}

func TestExecCleanExitIsEOF(t *testing.T) {
	l := startExecTest(t, "exec=true")
	if _, err := l.conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read: %v; want io.EOF", err)
	}
}

// TestExecKillGroup kills an agent that has a child of its own: both go.
func TestExecKillGroup(t *testing.T) {
	l := startExecTest(t, `exec=sh -c 'sleep 1000 & echo $$ $!; wait'`)
	line, err := bufio.NewReader(l.conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(line) {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid)
	}
	if err := l.kill(); err != nil {
		t.Fatal(err)
	}
	if err := l.wait(); err == nil {
		t.Error("wait after kill: nil error, want the kill signal")
	}
	for _, pid := range pids {
		testutil.WaitProcessEnded(t, pid)
	}
	if err := l.kill(); err != nil {
		t.Errorf("kill after wait: %v", err)
	}
}

func TestExecCloseUnblocksRead(t *testing.T) {
	l := startExecTest(t, "exec=sleep 1000")
	done := make(chan error, 1)
	go func() {
		_, err := l.conn.Read(make([]byte, 1))
		done <- err
	}()
	testutil.WaitGoroutineBlocked(t, "gateway.(*procConn).Read")
	l.conn.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("read after close returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
}
