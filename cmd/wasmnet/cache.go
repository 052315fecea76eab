package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmnet/wasmnet/gateway"
)

// cacheFlags are the flags of `wasmnet cache list` and `wasmnet cache prune`.
type cacheFlags struct {
	fleet     fleetFlags
	timeout   time.Duration
	asJSON    bool
	olderThan time.Duration
	all       bool
}

func newCacheCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "List and prune what wasmnet keeps: compiled code, modules, prepared images, uploaded agents",
		Long: `cache lists or prunes what agents keep on disk: compiled machine code (the
compilation cache), the modules and prepared images beside it, and the agent
binaries ssh= gateways uploaded (~/.cache/wasmnet/agent-SHA256). Without -g it
works on this machine's cache, the one popen agents share; with -g it asks the
agent of each gateway, which walks only its own cache directory (the request
names no path). A wasmnet serve answers only when started with
--allow-cache-requests, and never a key with restrict; wasmnet agent refuses
with --no-cache-requests.`,
		Example: `  wasmnet cache list
  wasmnet cache list -g @fleet.txt
  wasmnet cache prune --older-than 720h
  wasmnet cache prune --all -g ssh=build@10.0.0.7`,
	}
	cmd.AddCommand(newCacheListCommand(), newCachePruneCommand())
	return cmd
}

func newCacheListCommand() *cobra.Command {
	var f cacheFlags
	cmd := &cobra.Command{
		Use:   "list [-g SPEC|@FILE]...",
		Short: "Print, per gateway and kind, the entries kept, their size and age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCache(cmd, &f, false)
		},
	}
	f.register(cmd)
	return cmd
}

func newCachePruneCommand() *cobra.Command {
	var f cacheFlags
	cmd := &cobra.Command{
		Use:   "prune (--older-than DURATION | --all) [-g SPEC|@FILE]...",
		Short: "Remove cached entries last used more than a while ago, or all of them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case f.all == cmd.Flags().Changed("older-than"):
				return usagef("cache prune: give --older-than DURATION or --all, not %s", map[bool]string{true: "both", false: "neither"}[f.all])
			case !f.all && f.olderThan <= 0:
				return usagef("cache prune: --older-than %v: want a positive duration (or --all)", f.olderThan)
			}
			return runCache(cmd, &f, true)
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&f.olderThan, "older-than", 0, "remove entries last modified more than this long ago (720h: 30 days)")
	cmd.Flags().BoolVar(&f.all, "all", false, "remove every entry")
	return cmd
}

func (f *cacheFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	f.fleet.add(fl, "this machine's cache")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "bound on reaching each agent and asking it")
	fl.BoolVar(&f.asJSON, "json", false, "print one JSON object per gateway and kind")
}

// cacheRow is one gateway's answer, or why there is none.
type cacheRow struct {
	id    string
	kinds []gateway.CacheKind
	err   error
}

func runCache(cmd *cobra.Command, f *cacheFlags, prune bool) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	specs, err := f.fleet.listContext(ctx)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	local := len(specs) == 0
	if local {
		specs = []string{"inproc//id=local"} // an agent of this process, with the default cache
	}
	group := f.fleet.group(gateway.WithOutput(&escapingWriter{w: cmd.ErrOrStderr()}))
	defer group.Terminate(terminateTimeout)
	gws, err := group.MakeGateways(ctx, specs...)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	olderThan := f.olderThan
	if f.all {
		olderThan = 0
	}
	rows := make([]cacheRow, len(gws))
	var wg sync.WaitGroup
	for i, gw := range gws {
		wg.Go(func() {
			kinds, err := gw.RemoteCache(ctx, prune, olderThan)
			rows[i] = cacheRow{id: gw.ID(), kinds: kinds, err: err}
		})
	}
	wg.Wait()
	if f.asJSON {
		err = printCacheJSON(cmd, rows, prune)
	} else {
		err = printCacheTable(cmd, rows, prune)
	}
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "wasmnet: %s\n", escapeControls(r.err.Error()))
		}
	}
	for _, r := range rows {
		if r.err != nil {
			return exitCode(exitFailure)
		}
	}
	return nil
}

func printCacheTable(cmd *cobra.Command, rows []cacheRow, prune bool) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	head := "GATEWAY\tKIND\tENTRIES\tSIZE\tOLDEST\tNEWEST\tDIR"
	if prune {
		head = "GATEWAY\tKIND\tREMOVED\tFREED\tLEFT\tSIZE LEFT\tDIR"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tfailed (below)\n", escapeCell(r.id))
			continue
		}
		for _, k := range r.kinds {
			dir := escapeCell(k.Dir)
			if dir == "" {
				dir = "-"
			}
			if k.RemoveFailure != "" {
				dir += " (could not remove: " + escapeCell(k.RemoveFailure) + ")"
			}
			if prune {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\n", escapeCell(r.id), escapeCell(k.Kind), k.Removed,
					formatBytes(k.RemovedBytes), k.Entries, formatBytes(k.Bytes), dir)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", escapeCell(r.id), escapeCell(k.Kind), k.Entries,
				formatBytes(k.Bytes), formatDate(k.Oldest), formatDate(k.Newest), dir)
		}
	}
	return tw.Flush()
}

func formatDate(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// cacheJSON is one line of cache --json: snake_case, as status --json.
type cacheJSON struct {
	Gateway       string `json:"gateway"`
	Kind          string `json:"kind,omitempty"`
	Dir           string `json:"dir,omitempty"`
	Entries       int    `json:"entries"`
	Bytes         int64  `json:"bytes"`
	OldestNanos   int64  `json:"oldest_ns,omitempty"`
	NewestNanos   int64  `json:"newest_ns,omitempty"`
	Removed       int    `json:"removed,omitempty"`
	RemovedBytes  int64  `json:"removed_bytes,omitempty"`
	RemoveFailure string `json:"remove_failure,omitempty"`
	Error         string `json:"error,omitempty"`
}

func printCacheJSON(cmd *cobra.Command, rows []cacheRow, prune bool) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	for _, r := range rows {
		if r.err != nil {
			if err := enc.Encode(cacheJSON{Gateway: r.id, Error: r.err.Error()}); err != nil {
				return err
			}
			continue
		}
		for _, k := range r.kinds {
			out := cacheJSON{Gateway: r.id, Kind: k.Kind, Dir: k.Dir, Entries: k.Entries, Bytes: k.Bytes,
				OldestNanos: unixNanos(k.Oldest), NewestNanos: unixNanos(k.Newest),
				Removed: k.Removed, RemovedBytes: k.RemovedBytes, RemoveFailure: k.RemoveFailure}
			if err := enc.Encode(out); err != nil {
				return err
			}
		}
	}
	return nil
}

func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
