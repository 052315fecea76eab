package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmnet/wasmnet/gateway"
)

// statusRow is what status reports of one gateway: its agent's status and
// the round trip of asking, or why it could not be reached.
type statusRow struct {
	ID     string          `json:"id"`
	Spec   string          `json:"spec"`
	Status *gateway.Status `json:"status,omitempty"`
	Start  time.Duration   `json:"start_ns,omitempty"` // connecting and starting the agent
	RTT    time.Duration   `json:"rtt_ns,omitempty"`
	Error  string          `json:"error,omitempty"`
}

func newStatusCommand() *cobra.Command {
	var (
		fleet   fleetFlags
		timeout time.Duration
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "status [-g SPEC|@FILE]... [SPEC...]",
		Short: "Start or reach agents and print their status as a table",
		Long: `status starts or reaches the agent of every gateway (-g or arguments; N*SPEC
for N of them, @FILE for an inventory), all in parallel, asks each for its
status, prints one row per gateway and ends them again. A gateway that cannot
be reached or does not answer within --timeout gets a row with the reason;
the others are still shown, and the exit status is then 1. Columns: gateway
id, agent version, OS/arch, executions (running/started), resident memory,
modules compiled in memory and loaded from the disk cache, the time to
connect and start the agent, the round trip of the status request, and the
agent's working directory. --json prints one object per line, with the
agent's executable too.`,
		Example: `  wasmnet status popen
  wasmnet status -g @fleet.txt --timeout 10s
  wasmnet status 2*popen ssh=build@10.0.0.7//id=build --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			fleet.specs = append(fleet.specs, args...)
			lctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			specs, err := fleet.listContext(lctx)
			cancel()
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			if len(specs) == 0 {
				return usagef("status: no gateway given (-g SPEC, -g @FILE or SPEC arguments)")
			}
			// What agents write to stderr is escaped as run escapes it.
			rows, err := fleetStatus(cmd.Context(), &fleet, specs, timeout, gateway.WithOutput(&escapingWriter{w: cmd.ErrOrStderr()}))
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			if asJSON {
				err = printStatusJSON(cmd, rows)
			} else {
				err = printStatusTable(cmd, rows)
			}
			if err != nil {
				return err
			}
			for _, r := range rows {
				if r.Error != "" {
					return exitCode(exitFailure)
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fleet.add(fl, "none")
	fl.DurationVar(&timeout, "timeout", 30*time.Second, "bound on reaching each agent and asking it")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object per gateway and line")
	return cmd
}

// fleetStatus starts the gateways of specs as run does (one group, hops
// first, ids numbered alike), at most --max-parallel at once and within
// timeout, and asks each agent that started for its status, within timeout
// again. The rows are in the order of specs, N*SPEC expanded.
func fleetStatus(ctx context.Context, fleet *fleetFlags, specs []string, timeout time.Duration, opts ...gateway.Option) ([]statusRow, error) {
	expanded, err := gateway.ExpandSpecs(specs...)
	if err != nil {
		return nil, err
	}
	fleet.minStart = gateway.WithMinGateways(0) // a row for every gateway, whatever started
	group := fleet.group(opts...)
	defer group.Terminate(terminateTimeout)
	sctx, cancel := context.WithTimeout(ctx, timeout)
	gws, err := group.MakeGateways(sctx, specs...)
	cancel()
	var serr *gateway.StartError
	if err != nil && !errors.As(err, &serr) {
		return nil, err
	}
	failed := map[int]gateway.FailedStart{}
	if serr != nil {
		for _, f := range serr.Failed {
			failed[f.Index] = f
		}
	}
	rows := make([]statusRow, len(gws)+len(failed))
	var wg sync.WaitGroup
	for i := range rows {
		if f, ok := failed[i]; ok {
			rows[i] = statusRow{ID: f.ID, Spec: expanded[i], Error: f.Err.Error()}
			continue
		}
		gw := gws[0]
		gws = gws[1:]
		rows[i] = statusRow{ID: gw.ID(), Spec: expanded[i], Start: gw.StartTime()}
		wg.Go(func() { askStatus(ctx, gw, timeout, &rows[i]) })
	}
	wg.Wait()
	return rows, nil
}

// askStatus fills row with gw's status and the round trip of asking.
func askStatus(ctx context.Context, gw *gateway.Gateway, timeout time.Duration, row *statusRow) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	st, err := gw.RemoteStatus(ctx)
	if err != nil {
		row.Error = err.Error()
		return
	}
	row.RTT = time.Since(start)
	row.Status = &st
}

func printStatusTable(cmd *cobra.Command, rows []statusRow) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tVERSION\tOS/ARCH\tEXECUTIONS\tRSS\tCACHE\tSTART\tRTT\tSTATUS\tCWD")
	for _, r := range rows {
		st := r.Status
		if st == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t%s\n", escapeCell(r.ID), escapeCell(r.Error))
			continue
		}
		rss := "-"
		if st.RSS > 0 {
			rss = formatBytes(st.RSS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%d/%d\t%s\t%d mem, %d disk\t%s\t%s\tok\t%s\n", escapeCell(r.ID), escapeCell(st.Version), escapeCell(st.OS), escapeCell(st.Arch),
			st.Executing, st.Executions, rss, st.ModulesCached, st.CacheLoads, r.Start.Round(time.Millisecond), r.RTT.Round(10*time.Microsecond),
			escapeCell(st.Cwd))
	}
	return tw.Flush()
}

// agentStatusJSON is gateway.Status as status --json prints it: every key
// in snake_case, as the row's own keys are.
type agentStatusJSON struct {
	Version       string `json:"version"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	PID           int    `json:"pid"`
	Cwd           string `json:"cwd,omitempty"`
	Executable    string `json:"executable,omitempty"`
	ABI           []int  `json:"abi"`
	Channels      int    `json:"channels"`
	Executing     int    `json:"executing"`
	Executions    int64  `json:"executions"`
	ModulesCached int    `json:"modules_cached"`
	Compilations  int64  `json:"compilations"`
	CacheLoads    int64  `json:"cache_loads"`
	ModuleUploads int64  `json:"module_uploads"`
	UploadedBytes int64  `json:"uploaded_bytes"`
	RSS           int64  `json:"rss"`
	HeapAlloc     int64  `json:"heap_alloc"`
	UptimeNanos   int64  `json:"uptime_ns"`
	CompileCache  string `json:"compile_cache,omitempty"`
	ImageStarts   int64  `json:"image_starts"`
	KeptStarts    int64  `json:"kept_starts"`
}

// statusRowJSON is a statusRow as status --json prints it.
type statusRowJSON struct {
	ID     string           `json:"id"`
	Spec   string           `json:"spec"`
	Status *agentStatusJSON `json:"status,omitempty"`
	Start  time.Duration    `json:"start_ns,omitempty"`
	RTT    time.Duration    `json:"rtt_ns,omitempty"`
	Error  string           `json:"error,omitempty"`
}

func printStatusJSON(cmd *cobra.Command, rows []statusRow) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	for _, r := range rows {
		out := statusRowJSON{ID: r.ID, Spec: r.Spec, Start: r.Start, RTT: r.RTT, Error: r.Error}
		if st := r.Status; st != nil {
			a := agentStatusJSON(*st)
			out.Status = &a
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return nil
}
