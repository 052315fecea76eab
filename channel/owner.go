package channel

// Owner returns the Owner of the Config of c's Mux: for a channel of a
// gateway, its *gateway.Gateway (gateway.Of returns it typed), as execnet's
// channel.gateway.
func (c *Channel) Owner() any { return c.mux.cfg.Owner }
