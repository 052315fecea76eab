package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmnet/wasmnet/internal/pipe"
	"github.com/wasmnet/wasmnet/internal/primes"
	"github.com/wasmnet/wasmnet/internal/rss"
)

// The raw limits: what this machine does without wasmnet. The partner
// process is this executable again (wasmnet bench partner), so that it
// starts and runs exactly like an agent process, minus wasmnet.

const (
	pingSize     = 16 // bytes per raw ping, about one small data frame
	rawPings     = 5000
	bulkChunk    = 1 << 20
	bulkTotal    = 512 << 20
	primesLow    = 0
	primesHigh   = 1_500_000
	primesExpect = 114155
)

func newBenchPartnerCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "partner echo|drain|idle",
		Short:  "The other end of bench's raw measurements",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return runPartner(args[0], os.Stdin, os.Stdout)
		},
	}
}

// runPartner is the raw partner process: echo sends every pingSize bytes
// back; drain reads until EOF and then writes how many bytes it read; idle
// writes one byte and waits for EOF, like an agent waiting for its client.
func runPartner(mode string, in io.Reader, out io.Writer) error {
	switch mode {
	case "echo":
		var buf [pingSize]byte
		for {
			if _, err := io.ReadFull(in, buf[:]); err != nil {
				return nil
			}
			if _, err := out.Write(buf[:]); err != nil {
				return err
			}
		}
	case "drain":
		buf := make([]byte, bulkChunk)
		var n int64
		for {
			k, err := in.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		_, err := out.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
		return err
	case "idle":
		if _, err := out.Write([]byte{1}); err != nil {
			return err
		}
		io.Copy(io.Discard, in)
		return nil
	}
	return fmt.Errorf("bench partner: unknown mode %q", mode)
}

// partner is a running partner process joined by pipes, as a popen agent is.
type partner struct {
	cmd *exec.Cmd
	in  *os.File // its stdin
	out *os.File // its stdout
}

func startPartner(self, mode string) (*partner, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// The raw limit is that of the pipe gateways use.
	pipe.Grow(inW)
	pipe.Grow(outW)
	cmd := exec.Command(self, "bench", "partner", mode)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	return &partner{cmd: cmd, in: inW, out: outR}, nil
}

// stop closes the partner's stdin and reaps it.
func (p *partner) stop() error {
	p.in.Close()
	err := p.cmd.Wait()
	p.out.Close()
	return err
}

func rawProbes() []probe {
	return []probe{
		{figures: []figure{{key: "raw-rtt", name: "raw: pipe ping-pong round trip, 2 processes", unit: "µs"}}, run: (*bench).rawRoundTrip},
		{figures: []figure{{key: "raw-bw", name: "raw: pipe bandwidth, 1 MiB writes", unit: "MB/s", higher: true}}, run: (*bench).rawBandwidth},
		{figures: []figure{
			{key: "raw-spawn", name: "raw: process start to first byte", unit: "ms"},
			{key: "raw-exit", name: "raw: stdin closed until process reaped", unit: "ms"},
			{key: "raw-rss", name: "raw: idle Go process RSS", unit: "MiB"},
		}, run: (*bench).rawSpawn},
		{figures: []figure{{key: "raw-fanout16", name: "raw: 16 processes start to first byte", unit: "ms"}}, run: func(b *bench) ([]float64, error) { return b.rawFanout(16) }},
		{figures: []figure{{key: "raw-fanout64", name: "raw: 64 processes start to first byte", unit: "ms"}}, run: func(b *bench) ([]float64, error) { return b.rawFanout(64) }},
		{figures: []figure{{key: "native-primes", name: "native Go: primes kernel on [0, 1.5M)", unit: "ms"}}, run: (*bench).nativePrimes},
	}
}

func (b *bench) rawRoundTrip() ([]float64, error) {
	p, err := startPartner(b.self, "echo")
	if err != nil {
		return nil, err
	}
	defer p.stop()
	var buf [pingSize]byte
	ping := func() error {
		if _, err := p.in.Write(buf[:]); err != nil {
			return err
		}
		_, err := io.ReadFull(p.out, buf[:])
		return err
	}
	for range 200 {
		if err := ping(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	for range rawPings {
		if err := ping(); err != nil {
			return nil, err
		}
	}
	return []float64{micros(time.Since(start)) / rawPings}, nil
}

func (b *bench) rawBandwidth() ([]float64, error) {
	p, err := startPartner(b.self, "drain")
	if err != nil {
		return nil, err
	}
	defer p.stop()
	chunk := make([]byte, bulkChunk)
	start := time.Now()
	for sent := 0; sent < bulkTotal; sent += len(chunk) {
		if _, err := p.in.Write(chunk); err != nil {
			return nil, err
		}
	}
	p.in.Close()
	var n [8]byte
	if _, err := io.ReadFull(p.out, n[:]); err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	if got := binary.BigEndian.Uint64(n[:]); got != bulkTotal {
		return nil, fmt.Errorf("raw bandwidth: the partner read %d bytes, want %d", got, bulkTotal)
	}
	return []float64{bulkTotal / elapsed.Seconds() / 1e6}, nil
}

// rawSpawn starts an idle partner: the time to its first byte, then its
// resident memory, then the time from closing its stdin until it is reaped.
func (b *bench) rawSpawn() ([]float64, error) {
	start := time.Now()
	p, err := startPartner(b.self, "idle")
	if err != nil {
		return nil, err
	}
	var one [1]byte
	if _, err := io.ReadFull(p.out, one[:]); err != nil {
		p.stop()
		return nil, err
	}
	spawn := time.Since(start)
	resident, err := rss.Process(p.cmd.Process.Pid)
	if err != nil {
		p.stop()
		return nil, err
	}
	start = time.Now()
	if err := p.stop(); err != nil {
		return nil, err
	}
	return []float64{millis(spawn), millis(time.Since(start)), mib(resident)}, nil
}

func (b *bench) rawFanout(n int) ([]float64, error) {
	start := time.Now()
	ps := make([]*partner, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := startPartner(b.self, "idle")
			if err == nil {
				var one [1]byte
				_, err = io.ReadFull(p.out, one[:])
				ps[i] = p
			}
			errs[i] = err
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, p := range ps {
		if p != nil {
			wg.Go(func() { p.stop() })
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return []float64{millis(elapsed)}, nil
}

func (b *bench) nativePrimes() ([]float64, error) {
	start := time.Now()
	if n := primes.Count(primesLow, primesHigh); n != primesExpect {
		return nil, fmt.Errorf("native primes: got %d, want %d", n, primesExpect)
	}
	return []float64{millis(time.Since(start))}, nil
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(n int64) float64            { return float64(n) / (1 << 20) }

type benchMachine struct {
	Cores     int    `json:"cores"`
	CPU       string `json:"cpu"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

func describeMachine() benchMachine {
	m := benchMachine{Cores: runtime.NumCPU(), CPU: "unknown CPU", GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// peakRSS reads this process's peak resident memory (VmHWM) from /proc;
// 0 where there is no /proc.
func peakRSS() int64 {
	n, _ := rss.PeakSelf()
	return n
}
