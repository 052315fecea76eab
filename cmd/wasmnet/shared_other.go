//go:build !unix

package main

import (
	"context"
	"errors"

	"github.com/wasmnet/wasmnet/host"
)

// runShared refuses: a shared agent receives its connections as unix
// descriptors.
func runShared(ctx context.Context, cfg host.Config) error {
	return errors.New("agent: --shared needs a unix system")
}
