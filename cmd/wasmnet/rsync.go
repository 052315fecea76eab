package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmnet/wasmnet/gateway"
)

func newRSyncCommand() *cobra.Command {
	var (
		fleet   fleetFlags
		del     bool
		verbose bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rsync [-g SPEC]... [--delete] [-v] SRC DEST",
		Short: "Send a directory tree to many agents at once",
		Long: `rsync copies the directory SRC into DEST on the agent of every gateway (-g,
repeatable, N*SPEC for N of them; by default one popen), all in parallel, as
execnet's RSync does. SRC is read and hashed once; each agent receives only the
files it lacks or whose size or sha256 differ, writes each beside its place and
renames it in. Directories, permission bits and symbolic links are copied.
A relative DEST is relative to the agent's working directory (chdir=); it is
created if missing. With --delete, what is under DEST but not in SRC is removed.

With -v, a line "GATEWAY <= PATH" is printed for each file as it is sent, as
execnet's RSync prints. Then one line per gateway: files sent, their bytes,
paths deleted. The exit status is 1 if any gateway failed; the others still
received the tree. A file that vanishes from SRC while it is sent is skipped.`,
		Example: `  wasmnet rsync -g ssh=build@10.0.0.7 -g ssh=build@10.0.0.8 ./data /srv/data
  wasmnet rsync -g 'popen//chdir=/tmp/w' --delete ./site site`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			specs, err := fleet.listContext(ctx)
			if err != nil {
				return fmt.Errorf("rsync: %w", err)
			}
			if len(specs) == 0 {
				specs = []string{"popen"}
			}
			group := fleet.group(gateway.WithOutput(&escapingWriter{w: cmd.ErrOrStderr()}))
			defer group.Terminate(terminateTimeout)
			gws, err := group.MakeGateways(ctx, specs...)
			if err != nil {
				return fmt.Errorf("rsync: %w", err)
			}
			var opts []gateway.RSyncOption
			if del {
				opts = append(opts, gateway.WithDelete())
			}
			if verbose {
				out := cmd.OutOrStdout()
				opts = append(opts, gateway.WithProgress(func(ev gateway.RSyncEvent) {
					if ev.Kind == gateway.RSyncSent {
						fmt.Fprintf(out, "%s <= %s\n", escapeControls(ev.Gateway.ID()), quotePath(ev.Path))
					}
				}))
			}
			stats, syncErr := group.RSync(ctx, args[0], args[1], opts...)
			if stats == nil { // nothing was sent: the source is unreadable
				return syncErr
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GATEWAY\tFILES\tBYTES\tDELETED\tSTATUS")
			for _, gw := range gws {
				st, ok := stats[gw.ID()]
				if !ok {
					fmt.Fprintf(tw, "%s\t-\t-\t-\tfailed\n", escapeCell(gw.ID()))
					continue
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d\tok\n", escapeCell(gw.ID()), st.Files, formatBytes(st.Bytes), st.Deleted)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if syncErr != nil {
				return fmt.Errorf("rsync: %w", syncErr)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fleet.add(fl, "popen")
	fl.BoolVar(&del, "delete", false, "remove what is under DEST but not in SRC")
	fl.BoolVarP(&verbose, "verbose", "v", false, "print each file as it is sent")
	fl.DurationVar(&timeout, "timeout", 0, "bound the whole transfer; 0 means none")
	return cmd
}

// quotePath is a file name as one line on a terminal: Go-quoted when it
// holds a control character (a newline too) or is not UTF-8.
func quotePath(p string) string {
	if strings.ContainsAny(p, "\n\t") || needsEscape(p) {
		return strconv.Quote(p)
	}
	return p
}
