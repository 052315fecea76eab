package host

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"time"

	"github.com/wasmnet/wasmnet/channel"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// The two hop primitives a via= gateway needs: dial a TCP address, or run a
// command, with the byte stream bridged to a channel the client opened.
// Everything else (SSH, the next agent's protocol) runs in the client.

func (a *agent) dial(body []byte) error {
	if !a.cfg.allowHops {
		return errors.New("dial: this agent serves no hops" + refusedHops)
	}
	var req wire.DialRequest
	if err := channel.UnmarshalInto(body, &req); err != nil {
		return fmt.Errorf("dial: malformed request: %w", err)
	}
	ch := a.mux.Channel(req.Channel)
	if ch == nil {
		return fmt.Errorf("dial: channel %d is not open", req.Channel)
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(a.ctx, req.Network, req.Address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", req.Address, err)
	}
	a.bridge(ch, conn, conn, conn.Close)
	return nil
}

func (a *agent) command(body []byte) error {
	if !a.cfg.allowHops {
		return errors.New("command: this agent serves no hops" + refusedHops)
	}
	var req wire.CommandRequest
	if err := channel.UnmarshalInto(body, &req); err != nil || len(req.Argv) == 0 {
		return fmt.Errorf("command: malformed request: %v", err)
	}
	ch := a.mux.Channel(req.Channel)
	if ch == nil {
		return fmt.Errorf("command: channel %d is not open", req.Channel)
	}
	if req.Argv[0] == "@self" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("command: %w", err)
		}
		req.Argv[0] = self
	}
	cmd := exec.CommandContext(a.ctx, req.Argv[0], req.Argv[1:]...)
	cmd.WaitDelay = 2 * time.Second
	cmd.Env = append(cmd.Environ(), req.Env...)
	cmd.Dir = req.Dir
	cmd.Stderr = newOutputWriter(a.ctx, a.mux, ch.ID(), 2, true, 0)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("command %s: %w", req.Argv[0], err)
	}
	a.bridge(ch, stdout, stdin, func() error {
		// An agent exits when its stdin closes; anything else is killed
		// after a grace period.
		stdin.Close()
		timer := time.AfterFunc(2*time.Second, func() { cmd.Process.Kill() })
		defer timer.Stop()
		return cmd.Wait()
	})
	return nil
}

// bridge copies r to ch as byte-string items and ch's items to w, until
// either side ends; then it closes both.
func (a *agent) bridge(ch *channel.Channel, r io.Reader, w io.Writer, closeFn func() error) {
	a.execs.Add(2)
	done := make(chan struct{}, 2)
	go func() {
		defer a.execs.Done()
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 && ch.SendContext(a.ctx, buf[:n]) != nil {
				break
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	go func() {
		defer a.execs.Done()
		for v, err := range ch.All(a.ctx) {
			b, ok := v.([]byte)
			if err != nil || !ok {
				break
			}
			if _, err := w.Write(b); err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	go func() {
		select {
		case <-done:
		case <-a.ctx.Done():
		}
		closeFn()
		ch.Close()
	}()
}
