package gateway

import (
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wasmnet/wasmnet/internal/sshdtest"
)

// TestSessionConnCloseDuringWrites closes an ssh= session's conn while
// writers are busy on it, as the gateway's watch does while the mux's
// writer is still sending. The writer must end with an error, not hang, and
// under the race detector the close must not race with them (x/crypto/ssh
// does not lock its sent-EOF flag between Write and CloseWrite).
func TestSessionConnCloseDuringWrites(t *testing.T) {
	s := sshdtest.Start(t)
	key, err := os.ReadFile(s.UserKey)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	for round := range 20 {
		sess, err := client.NewSession()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		stdin, err := sess.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := sess.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.Start("cat"); err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, stdout)
		pr, pw := io.Pipe()
		c := &sessionConn{r: pr, w: stdin, cut: client.Close}

		var wg sync.WaitGroup
		chunk := make([]byte, 4<<10)
		writing := make(chan struct{})
		wg.Go(func() {
			// Bounded: a write after the close fails at once.
			for i := range 10000 {
				if _, err := c.Write(chunk); err != nil {
					return
				}
				if i == 0 {
					close(writing)
				}
			}
			t.Errorf("round %d: 10000 writes succeeded across a Close", round)
		})
		<-writing
		if err := c.Close(); err != nil {
			t.Errorf("round %d: close: %v", round, err)
		}
		wg.Wait()
		pw.Close()
		sess.Close()
	}
}
