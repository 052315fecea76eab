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
  inproc                     an agent on goroutines of this wasmnet process
Options follow as //key=value, e.g. popen//id=w1//env:LANG=C; N*SPEC means N gateways.

--debug (or WASMNET_DEBUG=1) traces gateway starts and ends, requests and
channel opens and closes to stderr; --debug=2 (WASMNET_DEBUG=2) adds every
agent's lines, local or remote, tagged agent[PID]@GATEWAY; --debug=FILE
(WASMNET_DEBUG=FILE) appends them to FILE, from this process and its local
agents alike.`,
		Example: `  wasmnet run -g 4*popen --input corpus/ --merge --top 20 wordcount.wasm
  wasmnet run -g ssh=build@10.0.0.7 -g 2*popen --send '[0, 1000000]' --take 1 primes.wasm
  wasmnet status popen ssh=build@10.0.0.7
  wasmnet rsync -g ssh=build@10.0.0.7 -g ssh=build@10.0.0.8 ./data data`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addDebugFlag(root)
	root.AddCommand(newAgentCommand(), newVersionCommand(), newRunCommand(), newStatusCommand(), newGenCorpusCommand(), newBenchCommand(), newServeCommand(), newRSyncCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the wasmnet version",
		Example: "  wasmnet version",
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "wasmnet %s %s/%s (protocol v1, ABI v1)\n", version, runtime.GOOS, runtime.GOARCH)
		},
	}
}
