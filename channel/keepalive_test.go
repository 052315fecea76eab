package channel

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cutLink is one end of a link that can be cut as a pulled cable cuts a
// TCP connection: from then on nothing passes either way and nothing
// closes, until the end itself is closed.
type cutLink struct {
	rwc       io.ReadWriteCloser
	cut       atomic.Bool
	closed    chan struct{}
	closeOnce sync.Once
}

func (c *cutLink) Read(p []byte) (int, error) {
	for {
		n, err := c.rwc.Read(p)
		if !c.cut.Load() {
			return n, err
		}
		if err != nil {
			<-c.closed
			return 0, err
		}
	}
}

func (c *cutLink) Write(p []byte) (int, error) {
	if c.cut.Load() {
		return len(p), nil
	}
	return c.rwc.Write(p)
}

func (c *cutLink) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.rwc.Close()
}

// TestShorterKeepAliveTimeoutRulesBothSides: a client that gives up on a
// silent agent after 1 s has an agent (its own timeout a minute) give up on
// it as soon, and pings often enough that an idle connection lives on. A
// cut link must not leave the agent and its guests running for its minute:
// over ssh, the agent's pings keep sshd from ever noticing the dead client.
func TestShorterKeepAliveTimeoutRulesBothSides(t *testing.T) {
	var agentEnd *cutLink
	pair := func(t testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser) {
		a, b := osPipePair(t)
		agentEnd = &cutLink{rwc: b, closed: make(chan struct{})}
		return a, agentEnd
	}
	// The client enforces a timeout but has no ping interval of its own.
	cm, am := muxPair(t, pair, &Config{KeepAliveTimeout: time.Second}, &Config{KeepAliveTimeout: time.Minute})
	select {
	case <-am.Done():
		t.Fatalf("the agent left an idle, live client: %v", am.Err())
	case <-cm.Done():
		t.Fatalf("the client left an idle, live agent: %v", cm.Err())
	case <-time.After(4 * time.Second):
	}
	agentEnd.cut.Store(true)
	cut := time.Now()
	select {
	case <-am.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the agent was still waiting for its client 30 s after the link was cut")
	}
	if err := am.Err(); !errors.Is(err, ErrKeepAliveTimeout) {
		t.Fatalf("the agent ended with %v, want ErrKeepAliveTimeout", err)
	}
	t.Logf("the agent left its client %v after the cut", time.Since(cut).Round(time.Millisecond))
}

// TestOwnKeepAliveTimeoutWithoutPeerTimeout: a client that enforces no
// timeout has an agent keep its own.
func TestOwnKeepAliveTimeoutWithoutPeerTimeout(t *testing.T) {
	cm, am := muxPair(t, osPipePair, nil, &Config{KeepAliveTimeout: time.Minute})
	if got := am.timeout(); got != time.Minute {
		t.Errorf("agent's limit %v, want its own minute", got)
	}
	if got := cm.timeout(); got != 0 {
		t.Errorf("client's limit %v, want none: it enforces no timeout", got)
	}
	if got := cm.pingEvery(); got != 15*time.Second {
		t.Errorf("client pings every %v, want 15s", got)
	}
}
