package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/wasmnet/wasmnet/internal/trace"
)

// addDebugFlag adds --debug[=FILE] to every command. It works through
// WASMNET_DEBUG, which the gateways of this process read and its local
// agents inherit, so one flag traces every process of the run.
func addDebugFlag(root *cobra.Command) {
	var debug string
	fl := root.PersistentFlags()
	fl.StringVar(&debug, "debug", "", "trace gateways, requests and channels to stderr, with =2 the agents' too, or with =FILE append them to FILE (as WASMNET_DEBUG)")
	fl.Lookup("debug").NoOptDefVal = "1"
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if debug == "" {
			return nil
		}
		if _, err := trace.Open(debug); err != nil {
			return err
		}
		return os.Setenv(trace.EnvVar, debug)
	}
}
