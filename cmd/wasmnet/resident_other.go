//go:build !linux

package main

import (
	"context"

	"github.com/wasmnet/wasmnet/host"
	"github.com/wasmnet/wasmnet/internal/resident"
)

// runResident refuses: resident agents need Linux.
func runResident(ctx context.Context, f *residentFlags, cfg host.Config) error {
	return resident.ErrUnsupported
}
