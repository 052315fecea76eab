package host

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// openManyWat opens "f" in its first directory grant up to 4096 times,
// keeping each open, and sends as 8 bytes how many opens succeeded and
// the errno of the first that failed. Then it waits for its input to end.
const openManyWat = `(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasmnet" "channel_main" (func $main (result i32)))
  (import "wasmnet" "send" (func $send (param i32 i32 i32) (result i32)))
  (import "wasmnet" "receive" (func $receive (param i32 i32 i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "f")
  (data (i32.const 98) "\c4\08")
  (func (export "_start") (local $errno i32)
    (loop $more
      (local.set $errno (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 1)
        (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 80)))
      (if (i32.eqz (local.get $errno)) (then
        (i32.store (i32.const 100) (i32.add (i32.load (i32.const 100)) (i32.const 1)))
        (br_if $more (i32.lt_u (i32.load (i32.const 100)) (i32.const 4096))))))
    (i32.store (i32.const 104) (local.get $errno))
    (drop (call $send (call $main) (i32.const 98) (i32.const 10)))
    (drop (call $receive (call $main) (i32.const 200) (i32.const 64) (i64.const -1) (i32.const 96)))))`

// openMany starts openManyWat on a with a grant holding "f" and returns
// its channel, with how many files it opened and the WASI errno that
// stopped it.
func openMany(t *testing.T, a *testAgent) (*channel.Channel, uint32, uint32) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ch := a.exec(t, wat(t, openManyWat), wire.ExecRequest{Dirs: []wire.DirGrant{{Host: dir, Guest: "/g", ReadOnly: true}}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := ch.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := v.([]byte)
	if !ok || len(b) != 8 {
		t.Fatalf("the guest sent %#v", v)
	}
	return ch, binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
}

// endGuest closes ch, which ends openManyWat, and waits for its end.
func endGuest(t *testing.T, ch *channel.Channel) {
	t.Helper()
	ch.CloseSend()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := ch.Receive(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("the guest ended with %v", err)
	}
}

// TestSecurityOpenFilesPerExecution runs a guest that opens one file
// again and again: it is refused with EMFILE at its limit of open files,
// not served until the agent's process has no descriptor left.
func TestSecurityOpenFilesPerExecution(t *testing.T) {
	a := startAgent(t, NewConfig())
	ch, opened, errno := openMany(t, a)
	const emfile = 33
	if errno != emfile || opened > DefaultMaxOpenFiles || opened < DefaultMaxOpenFiles-8 {
		t.Fatalf("the guest opened %d files, then got errno %d; want about %d, then %d", opened, errno, DefaultMaxOpenFiles, emfile)
	}
	endGuest(t, ch)
}

// TestSecurityOpenFilesLeaveAReserve lowers the process's descriptor
// limit to 600 and runs a guest allowed to hold more: the executions
// together stop short of the limit (ENFILE), and while the guest holds
// all it could get, the process still accepts 50 connections and runs
// another execution.
func TestSecurityOpenFilesLeaveAReserve(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = 600
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatalf("lowering RLIMIT_NOFILE to 600: %v", err)
	}
	// Deferred, not a cleanup: TempDir's cleanup needs descriptors.
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)

	a := startAgent(t, NewConfig().WithMaxOpenFiles(100_000))
	ch, opened, errno := openMany(t, a)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening while the guest holds its files: %v", err)
	}
	defer l.Close()
	for i := range 50 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		s, err := l.Accept()
		if err != nil {
			t.Fatalf("accepting connection %d while the guest holds its files: %v", i, err)
		}
		defer s.Close()
	}
	if err := a.runToEnd(t, guest(t, "")); err != nil {
		t.Fatalf("another execution while the guest holds its files: %v", err)
	}
	const enfile = 41
	if errno != enfile || opened > 600-256 {
		t.Fatalf("the guest opened %d files, then got errno %d; want at most %d, then %d", opened, errno, 600-256, enfile)
	}
	endGuest(t, ch)
}
