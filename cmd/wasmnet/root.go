package main

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/internal/suggest"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// exitCode is an error that carries the process's exit status and has
// already been reported.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

func asExitCode(err error, code *exitCode) bool { return errors.As(err, code) }

// usageError is a mistake in how wasmnet was called: a flag, an argument
// or a spec. It exits with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitStatus is the status err ends the process with, once it is printed.
func exitStatus(err error) int {
	var (
		ue       usageError
		specErr  *gateway.SpecError
		tooMany  *gateway.TooManyGatewaysError
		notExist *pflag.NotExistError
	)
	switch {
	case errors.As(err, &ue), errors.As(err, &specErr), errors.As(err, &tooMany), errors.As(err, &notExist),
		strings.HasPrefix(err.Error(), "unknown command "): // cobra's, which has no type
		return exitUsage
	}
	return exitFailure
}

// flagError makes a flag that cobra could not parse a usage error, with
// the flag meant when it looks like a slip, and the command's flags.
func flagError(cmd *cobra.Command, err error) error {
	var notExist *pflag.NotExistError
	if !errors.As(err, &notExist) {
		return usageError{err}
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, "--"+f.Name)
		}
	})
	name := "--" + notExist.GetSpecifiedName()
	if short := notExist.GetSpecifiedShortnames(); short != "" {
		name = "-" + short
	}
	return usageError{fmt.Errorf("%sunknown flag %s%s\nflags of %s: %s", commandPrefix(cmd), name,
		suggest.DidYouMean(name, names), cmd.CommandPath(), strings.Join(names, " "))}
}

// commandPrefix is "run: " for `wasmnet run`, as its own errors begin, and
// "" for wasmnet itself, whose name main prints.
func commandPrefix(c *cobra.Command) string {
	if !c.HasParent() {
		return ""
	}
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ") + ": "
}

// markArgErrors makes the errors of every command's argument check usage
// errors.
func markArgErrors(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{fmt.Errorf("%s%w", commandPrefix(c), err)}
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		markArgErrors(c)
	}
}

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
  wasmnet rsync -g ssh=build@10.0.0.7 -g ssh=build@10.0.0.8 ./data data
  wasmnet cache prune --older-than 720h -g @fleet.txt`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetVersionTemplate(versionLine() + "\n")
	root.SetFlagErrorFunc(flagError)
	addDebugFlag(root)
	root.AddCommand(newAgentCommand(), newVersionCommand(), newRunCommand(), newStatusCommand(), newGenCorpusCommand(), newBenchCommand(), newServeCommand(), newRSyncCommand(), newCacheCommand())
	markArgErrors(root)
	return root
}

// versionLine is what `wasmnet version` and `wasmnet --version` print.
func versionLine() string {
	return fmt.Sprintf("wasmnet %s %s/%s (protocol v1, ABI v1)", version, runtime.GOOS, runtime.GOARCH)
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the wasmnet version",
		Example: "  wasmnet version",
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine())
		},
	}
}
