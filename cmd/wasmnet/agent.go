package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wasmnet/wasmnet/host"
)

func newAgentCommand() *cobra.Command {
	var cacheDir string
	var noCache bool
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Serve the wasmnet protocol on stdin/stdout (started by gateways, not by hand)",
		Long: `agent serves one client on stdin and stdout: popen, ssh= and exec= gateways
start it. It exits when its stdin closes, so it never outlives its client.
Guest output never reaches stdout: it travels to the client as tagged lines.`,
		Example: `  wasmnet agent --cache-dir /var/cache/wasmnet`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			cfg := host.NewConfig().WithVersion(version).WithLog(os.Stderr)
			if cacheDir != "" {
				cfg = cfg.WithCompilationCacheDir(cacheDir)
			}
			if noCache {
				cfg = cfg.WithoutCompilationCache()
			}
			return host.Serve(ctx, stdio{}, cfg)
		},
	}
	cmd.Flags().StringVar(&cacheDir, "cache-dir", "", "compilation cache directory (default: the user cache directory)")
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "keep compiled modules in memory only")
	return cmd
}

// stdio is the agent's connection: stdin to read, stdout to write.
type stdio struct{}

func (stdio) Read(p []byte) (int, error)  { return os.Stdin.Read(p) }
func (stdio) Write(p []byte) (int, error) { return os.Stdout.Write(p) }
func (stdio) Close() error {
	os.Stdout.Close()
	return os.Stdin.Close()
}
