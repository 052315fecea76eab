//go:build linux

package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wasmnet/wasmnet/host"
	"github.com/wasmnet/wasmnet/internal/resident"
	"github.com/wasmnet/wasmnet/internal/testutil"
)

// TestResidentServerIdle runs a resident agent in this process with a
// short idle time: it stays while any connection is open, however long,
// serves connections made at once, and once the last has gone it exits
// and removes its socket.
func TestResidentServerIdle(t *testing.T) {
	dir, err := os.MkdirTemp("", "wr")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	p := resident.PathsFor(filepath.Join(dir, "resident"), "0123456789abcdef0123")
	if err := os.Mkdir(p.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
	defer cancel()
	const idle = 200 * time.Millisecond
	listening := make(chan struct{})
	ended := make(chan error, 1)
	go func() {
		ended <- serveResident(ctx, p, host.NewConfig().WithoutCompilationCache(), idle, func() { close(listening) })
	}()
	select {
	case <-listening:
	case err := <-ended:
		t.Fatalf("serveResident: %v", err)
	}
	held, err := resident.Dial(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c, err := resident.Dial(ctx, p)
			if err != nil {
				t.Error(err)
				return
			}
			if c.PID != os.Getpid() {
				t.Errorf("the agent's pid is %d, want this process's %d", c.PID, os.Getpid())
			}
			c.Close()
		})
	}
	wg.Wait()
	select {
	case err := <-ended:
		t.Fatalf("the agent ended with a connection open: %v", err)
	case <-time.After(3 * idle):
	}
	held.Close()
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("serveResident: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the agent did not idle out after its last connection")
	}
	if _, err := os.Lstat(p.Socket); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the socket after the agent ended: %v, want it removed", err)
	}
}
