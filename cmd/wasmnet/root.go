package main

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// exitCode is an error that carries the process's exit status and has
// already been reported.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

func asExitCode(err error, code *exitCode) bool { return errors.As(err, code) }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "wasmnet",
		Short: "Run WebAssembly modules across many sandboxed agents, local and remote",
		Long: `wasmnet distributes execution across sandboxed WebAssembly agents on this
machine and on remote hosts, with channels between the client and each guest.

Gateways are named by spec strings:
  popen                      a local agent subprocess
  ssh=[user@]host[:port]     an agent bootstrapped over SSH (nothing to install)
  socket=host[:port]         an agent of a 'wasmnet serve' that authenticates by SSH key
  exec=COMMAND               any command whose stdio reaches an agent
  SPEC//via=ID               the same, reached through gateway ID
Options follow as //key=value, e.g. popen//id=w1//env:LANG=C; N*SPEC means N gateways.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newAgentCommand(), newVersionCommand(), newRunCommand(), newStatusCommand(), newGenCorpusCommand(), newBenchCommand(), newServeCommand(), newRSyncCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the wasmnet version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "wasmnet %s %s/%s (protocol v1, ABI v1)\n", version, runtime.GOOS, runtime.GOARCH)
		},
	}
}
