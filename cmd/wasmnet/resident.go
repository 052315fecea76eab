package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/wasmnet/wasmnet/internal/resident"
)

// residentFlags choose what `wasmnet agent` does about the user's resident
// agent instead of serving stdio: make sure it runs (--resident), be it
// (--resident-serve, which --resident starts), or bridge stdio to it
// (--connect-resident, for ssh= hosts that forbid streamlocal forwarding).
type residentFlags struct {
	start   bool
	serve   bool
	connect bool
	idle    time.Duration
}

func (f *residentFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.start, "resident", false, "start the user's resident agent of this build unless it runs, and exit once it accepts connections")
	fs.BoolVar(&f.connect, "connect-resident", false, "connect stdin and stdout to the user's resident agent, starting it if needed")
	fs.DurationVar(&f.idle, "resident-idle", resident.DefaultIdle, "a resident agent exits after this long without a connection")
	fs.BoolVar(&f.serve, "resident-serve", false, "be the resident agent (started by --resident)")
	fs.MarkHidden("resident-serve")
}

// any says whether a resident mode was asked for.
func (f *residentFlags) any() bool { return f.start || f.serve || f.connect }
