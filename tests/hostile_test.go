package tests

// The hostile-peer suite (issue 12): a fake agent, reached through exec=,
// and a fake client, writing to `wasmnet agent`'s stdin and to `wasmnet
// serve`, send what a careless or malicious peer may send. The other side
// answers that request with an error (or drops what nobody asked for),
// keeps serving, and its heap stays bounded, as measured here.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/testutil"
	"github.com/wasmnet/wasmnet/internal/testwasm"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// fakeAgent builds internal/fakeagent once per test binary.
func fakeAgent(t *testing.T) string {
	t.Helper()
	fake.once.Do(func() {
		dir, err := os.MkdirTemp("", "wasmnet-fakeagent-")
		if err != nil {
			fake.err = err
			return
		}
		fake.path = filepath.Join(dir, "fakeagent")
		cmd := exec.Command("go", "build", "-o", fake.path, "./internal/fakeagent")
		cmd.Dir = testwasm.Root(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			fake.err = errors.New(string(out))
		}
	})
	if fake.err != nil {
		t.Fatalf("building the fake agent: %v", fake.err)
	}
	return fake.path
}

var fake struct {
	once sync.Once
	path string
	err  error
}

// heapPeak runs fn and returns by how much the in-use heap rose above
// where it started, sampled every few milliseconds.
func heapPeak(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-sampled
	return peak.Load()
}

type countWriter struct{ n atomic.Int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

func TestHostileAgent(t *testing.T) {
	path := fakeAgent(t)
	tests := []struct {
		mode  string
		check func(t *testing.T, err error, out *countWriter)
	}{
		{"deep", wantErrorText("nested deeper")},
		{"counts", wantErrorText("invalid msgpack code")},
		{"nils", wantErrorText("status")},
		{"opens", wantErrorText("")},
		{"output", func(t *testing.T, err error, out *countWriter) {
			if err != nil {
				t.Fatal(err)
			}
			if n := out.n.Load(); n < 128<<20 {
				t.Fatalf("%d bytes of the guest's 128 MiB of output written", n)
			}
		}},
		{"late", func(t *testing.T, err error, _ *countWriter) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want the caller's deadline", err)
			}
		}},
		{"bigclose", func(t *testing.T, err error, _ *countWriter) {
			var re *channel.RemoteError
			if !errors.As(err, &re) || len(re.Message) > 64<<10 {
				t.Fatalf("got %.200v, want the agent's error answer, cut to 64 KiB", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			out := &countWriter{}
			g, err := gateway.Make(ctxFor(t, testutil.WaitTimeout), "exec="+path+" "+tt.mode, gateway.WithOutput(out))
			if err != nil {
				t.Fatal(err)
			}
			defer exitGateway(t, g)
			var first, second error
			peak := heapPeak(func() {
				ctx := ctxFor(t, testutil.WaitTimeout)
				if tt.mode == "late" {
					ctx = ctxFor(t, 200*time.Millisecond)
				}
				_, first = g.RemoteStatus(ctx)
				_, second = g.RemoteStatus(ctxFor(t, testutil.WaitTimeout))
			})
			msg := fmt.Sprint(first)
			t.Logf("first request: %.200s; heap peak +%d MiB", msg, peak>>20)
			tt.check(t, first, out)
			if second != nil {
				t.Fatalf("the gateway stopped serving after the attack: %v", second)
			}
			// 60 MB frames (nils) are read whole; nothing may cost more
			// than a few of them.
			if peak > 320<<20 {
				t.Fatalf("heap rose by %d MiB", peak>>20)
			}
		})
	}
}

func wantErrorText(text string) func(t *testing.T, err error, _ *countWriter) {
	return func(t *testing.T, err error, _ *countWriter) {
		if text == "" {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), text) {
			t.Fatalf("got %v, want an error mentioning %q", err, text)
		}
	}
}

// rawFrame is one frame of the wire protocol, built by hand.
func rawFrame(typ, flags byte, id uint32, payload []byte) []byte {
	h := []byte{typ, flags, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[2:], id)
	binary.BigEndian.PutUint32(h[6:], uint32(len(payload)))
	return append(h, payload...)
}

// attackAgent plays a hostile client on conn, an agent's connection:
// requests whose bodies are 8M deep, claim counts they lack or hold 60M
// nils, and a million channel opens; then it asks for the status. Each
// attack must be answered with an error and the status must come.
func attackAgent(t *testing.T, conn io.ReadWriter) wire.Status {
	t.Helper()
	hello, _ := channel.Marshal(&channel.Hello{Proto: channel.ProtocolVersion, Role: channel.RoleClient, Window: 1 << 20, MaxFrame: 1 << 20})
	r := bufio.NewReaderSize(conn, 1<<16)
	written := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(conn, 1<<16)
		w.Write(rawFrame(1, 0, 0, append([]byte("WASMNET\x00"), hello...)))
		w.Write(rawFrame(6, wire.KindExec, 1, append(bytes.Repeat([]byte{0x91}, 8<<20), 0x90)))
		var counts []byte
		for i := range 16 {
			counts = binary.BigEndian.AppendUint32(append(counts, 0xdd), uint32((15-i)*5+4<<20))
		}
		w.Write(rawFrame(6, wire.KindExec, 2, append(counts, bytes.Repeat([]byte{0xc1}, 4<<20)...)))
		nils := binary.BigEndian.AppendUint32([]byte{0xdd}, 60<<20)
		w.Write(rawFrame(6, wire.KindModule, 3, append(nils, bytes.Repeat([]byte{0xc0}, 60<<20)...)))
		for i := range uint32(1 << 20) {
			w.Write(rawFrame(2, 0, 1+2*i, nil))
		}
		w.Write(rawFrame(6, wire.KindStatus, 4, nil))
		written <- w.Flush()
	}()
	// Requests are served concurrently, so the answers may come in any
	// order: read until all four are in.
	answers := map[uint32][]byte{}
	for len(answers) < 4 {
		var h [10]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			t.Fatalf("reading the agent: %v (answers so far: %d)", err, len(answers))
		}
		payload := make([]byte, binary.BigEndian.Uint32(h[6:]))
		if _, err := io.ReadFull(r, payload); err != nil {
			t.Fatal(err)
		}
		if id := binary.BigEndian.Uint32(h[2:]); h[0] == 7 {
			if id != 4 && h[1]&1 == 0 {
				t.Fatalf("attack %d was answered without an error", id)
			}
			if id == 4 && h[1]&1 != 0 {
				t.Fatalf("status after the attacks: %s", payload)
			}
			t.Logf("answer %d: %.100s", id, payload)
			answers[id] = append(payload, 0)[:len(payload)]
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if len(answers) != 4 {
		t.Fatalf("%d answers, want 4", len(answers))
	}
	var st wire.Status
	if err := channel.UnmarshalInto(answers[4], &st); err != nil {
		t.Fatal(err)
	}
	if st.Channels > channel.DefaultConfig().AcceptBacklog {
		t.Fatalf("the agent holds %d channels nobody asked for", st.Channels)
	}
	return st
}

// vmHWM returns a process's peak resident memory.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	hwm, err := testutil.PeakRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	return hwm
}

// maxAgentHWM bounds an attacked agent's peak memory: its 60 MB frame, read
// whole, and a few times that for the rest.
const maxAgentHWM = 400 << 20

func TestHostileClientOnAgentStdin(t *testing.T) {
	cmd := exec.Command(agentBin(t), "agent", "--no-cache")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	st := attackAgent(t, struct {
		io.Reader
		io.Writer
	}{stdout, stdin})
	hwm := vmHWM(t, cmd.Process.Pid)
	t.Logf("agent: %d channels held, peak RSS %d MiB", st.Channels, hwm>>20)
	if hwm > maxAgentHWM {
		t.Fatalf("agent peak RSS %d MiB", hwm>>20)
	}
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent after its client left: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("agent did not exit after its client left")
	}
}

func TestHostileClientOnServe(t *testing.T) {
	cmd := exec.Command(agentBin(t), "serve", "--insecure-plain", "--listen", "127.0.0.1:0", "--no-cache")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("serve said %q, %v", line, err)
	}
	// A good client connected before the attack is served after it.
	good, err := gateway.Make(ctxFor(t, testutil.WaitTimeout), "socket="+addr+"//insecure_plain", gateway.WithOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer exitGateway(t, good)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	attackAgent(t, conn)
	if _, err := good.RemoteStatus(ctxFor(t, testutil.WaitTimeout)); err != nil {
		t.Fatalf("serve's other client after the attack: %v", err)
	}
	hwm := vmHWM(t, cmd.Process.Pid)
	t.Logf("serve: peak RSS %d MiB", hwm>>20)
	if hwm > maxAgentHWM {
		t.Fatalf("serve peak RSS %d MiB", hwm>>20)
	}
}

// TestSecurityAgentFloodingPingsIsCutOff: an agent that declared limits of
// 2^62 bytes floods pings and reads no pong. The client does not take its
// limits: it cuts the agent off with an error saying why, its heap bounded
// by its own limits (issue 23, item 1).
func TestSecurityAgentFloodingPingsIsCutOff(t *testing.T) {
	g, err := gateway.Make(ctxFor(t, time.Minute), "exec="+fakeAgent(t)+" pings", gateway.WithOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer exitGateway(t, g)
	var statusErr error
	peak := heapPeak(func() { _, statusErr = g.RemoteStatus(ctxFor(t, 2*time.Minute)) })
	t.Logf("status: %v; heap peak +%d MiB", statusErr, peak>>20)
	if !errors.Is(statusErr, channel.ErrPeerNotReading) {
		t.Errorf("got %v, want the agent cut off for not reading", statusErr)
	}
	// The client's own bound of 68 MiB, a batch being written and the
	// slack of append: 1 GiB of pings must not fit.
	if peak > 512<<20 {
		t.Errorf("heap rose by %d MiB", peak>>20)
	}
}
