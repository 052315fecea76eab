package channel

import "context"

// waitCallback waits until a callback set by SetCallback has run for the
// last time, so WaitClose can promise every item was handled.
func (c *Channel) waitCallback(ctx context.Context) error {
	c.mu.Lock()
	done := c.cbDone
	c.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
