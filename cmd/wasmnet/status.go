package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/wasmnet/wasmnet/gateway"
)

func newStatusCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status SPEC...",
		Short: "Start or reach agents and print their status as a table",
		Long: `status starts or reaches the agent of every SPEC (N*SPEC for N of them), asks
each for its status, prints one row per agent and ends them again. Columns:
gateway id, agent version, OS/arch, agent pid, open channels, guests
executing, modules compiled in memory, compilations since it started, and
resident memory.`,
		Example: `  wasmnet status popen
  wasmnet status 2*popen ssh=build@10.0.0.7//id=build`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, specs []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			group := gateway.NewGroup(gateway.WithGatewayOptions(gateway.WithOutput(cmd.ErrOrStderr())))
			defer group.Terminate(terminateTimeout)
			gws, err := group.MakeGateways(ctx, specs...)
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			sts := make([]gateway.Status, len(gws))
			var eg errgroup.Group
			for i, gw := range gws {
				eg.Go(func() (err error) {
					sts[i], err = gw.RemoteStatus(ctx)
					return err
				})
			}
			if err := eg.Wait(); err != nil {
				return fmt.Errorf("status: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tVERSION\tOS/ARCH\tPID\tCHANNELS\tEXECUTING\tMODULES\tCOMPILATIONS\tRSS")
			for i, st := range sts {
				rss := "-"
				if st.RSS > 0 {
					rss = formatBytes(st.RSS)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%d\t%d\t%d\t%d\t%d\t%s\n", gws[i].ID(), st.Version, st.OS, st.Arch,
					st.PID, st.Channels, st.Executing, st.ModulesCached, st.Compilations, rss)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "bound on reaching the agents and asking them")
	return cmd
}
