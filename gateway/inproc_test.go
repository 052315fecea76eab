package gateway

import (
	"context"
	"io"

	"github.com/wasmnet/wasmnet/internal/agentpipe"
)

// withInproc makes "inproc" specs start an agent in the test process, as
// gateway/inproc does for users (it cannot be imported here: it imports
// this package).
func withInproc() Option {
	return WithTransport("inproc", func(context.Context, Spec) (io.ReadWriteCloser, error) {
		return agentpipe.Start(agentpipe.DefaultConfig()), nil
	})
}
