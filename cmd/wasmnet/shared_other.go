//go:build !linux

package main

import (
	"context"
	"errors"

	"github.com/wasmnet/wasmnet/host"
)

// runShared refuses: shared agents need Linux, as their clients do
// (gateway/shared_linux.go), and none starts one elsewhere.
func runShared(ctx context.Context, cfg host.Config) error {
	return errors.New("agent: --shared needs Linux")
}
