package gateway

import (
	"context"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// maxSessionsPerConn is how many gateways share one SSH connection: the
// default of OpenSSH's MaxSessions, beyond which sshd refuses a session.
const maxSessionsPerConn = 10

// An sshPool shares SSH connections among the ssh= gateways of one Group,
// as OpenSSH's ControlMaster does: "4*ssh=host" logs in once and runs four
// agents in four sessions of that connection. It also makes the first
// gateway to reach a host bootstrap alone, so that the agent is uploaded
// once per host however many gateways of a batch start there at once; the
// others start after it, from the remote cache, in parallel.
type sshPool struct {
	mu     sync.Mutex
	conns  map[string][]*sshConn    // by poolKey
	booted map[string]chan struct{} // by poolKey: closed once the host's first bootstrap ended
	// residents holds where the resident agent listens on the host of a
	// pooled connection, once a gateway has asked (ssh=HOST//resident).
	residents map[*ssh.Client]remoteResidentInfo
}

// An sshConn is one pooled connection (with its jump hosts).
type sshConn struct {
	clients []*ssh.Client // hops in order, the target last
	ready   chan struct{} // closed once connected or failed
	err     error         // the connect's error, set before ready closes

	// guarded by the pool's mu
	users  int
	broken bool
}

func newSSHPool() *sshPool {
	return &sshPool{conns: map[string][]*sshConn{}, booted: map[string]chan struct{}{}, residents: map[*ssh.Client]remoteResidentInfo{}}
}

// poolKey names what makes two ssh= specs share a connection: the chain of
// hosts and users, and the options that change how to log in.
func poolKey(hops []sshTarget, sp Spec) string {
	var b strings.Builder
	for _, h := range hops {
		b.WriteString(h.String() + "|" + strings.Join(h.identities, ",") + ">")
	}
	for _, k := range []string{"identity", "known_hosts", "insecure_ignore_host_key"} {
		if v, ok := sp.Options[k]; ok {
			b.WriteString("|" + k + "=" + v)
		}
	}
	return b.String()
}

// get returns a connection for key with room for one more session,
// connecting with connect if there is none; ctx bounds the wait. put gives
// it back.
func (p *sshPool) get(ctx context.Context, key string, connect func() ([]*ssh.Client, error)) (*sshConn, error) {
	p.mu.Lock()
	var c *sshConn
	for _, x := range p.conns[key] {
		if !x.broken && x.users < maxSessionsPerConn {
			c = x
			break
		}
	}
	if c != nil {
		c.users++
		p.mu.Unlock()
		select {
		case <-c.ready:
		case <-ctx.Done():
			p.put(key, c)
			return nil, ctx.Err()
		}
		if c.err != nil {
			p.put(key, c)
			return nil, c.err
		}
		return c, nil
	}
	c = &sshConn{ready: make(chan struct{}), users: 1}
	p.conns[key] = append(p.conns[key], c)
	p.mu.Unlock()

	c.clients, c.err = connect()
	if c.err != nil {
		p.mu.Lock()
		c.broken = true
		p.mu.Unlock()
		close(c.ready)
		p.put(key, c)
		return nil, c.err
	}
	close(c.ready)
	go func() {
		c.clients[len(c.clients)-1].Wait()
		p.mu.Lock()
		c.broken = true
		p.mu.Unlock()
	}()
	return c, nil
}

// put gives back a connection from get; the last user closes it.
func (p *sshPool) put(key string, c *sshConn) {
	p.mu.Lock()
	c.users--
	last := c.users == 0
	if last {
		list := p.conns[key]
		for i, x := range list {
			if x == c {
				p.conns[key] = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(p.conns[key]) == 0 {
			delete(p.conns, key)
		}
	}
	if last && c.err == nil {
		delete(p.residents, c.clients[len(c.clients)-1])
	}
	p.mu.Unlock()
	if last && c.err == nil {
		for i := len(c.clients) - 1; i >= 0; i-- {
			c.clients[i].Close()
		}
	}
}

// firstBoot says whether the caller is the first to bootstrap on the host
// of key; if so it must call the returned func once its bootstrap has
// ended. Otherwise firstBoot waits, within ctx, until the first has ended.
func (p *sshPool) firstBoot(ctx context.Context, key string) (func(), error) {
	p.mu.Lock()
	ch, ok := p.booted[key]
	if !ok {
		ch = make(chan struct{})
		p.booted[key] = ch
		p.mu.Unlock()
		return sync.OnceFunc(func() { close(ch) }), nil
	}
	p.mu.Unlock()
	select {
	case <-ch:
		return func() {}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// residentOf returns where the resident agent listens on the host of
// client, if a gateway has learnt it. A nil pool knows nothing.
func (p *sshPool) residentOf(client *ssh.Client) (remoteResidentInfo, bool) {
	if p == nil {
		return remoteResidentInfo{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.residents[client]
	return r, ok
}

// setResident records where the resident agent listens on the host of
// client.
func (p *sshPool) setResident(client *ssh.Client, r remoteResidentInfo) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.residents[client] = r
}
