package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/wasmnet/wasmnet/gateway"
	"github.com/wasmnet/wasmnet/gateway/inproc"
)

// fleetFlags are the gateway flags of run, rsync and status: -g SPEC,
// N*SPEC or @FILE (an inventory), and --max-gateways.
type fleetFlags struct {
	specs       []string
	maxGateways int
	maxParallel int
	minGateways string // run's --min-gateways
	// minStart lets the group keep the gateways that started when others
	// did not (gateway.WithMinGateways); nil: all or nothing.
	minStart gateway.GroupOption
	resident bool // --resident: popen gateways use the resident agent
	share    bool // --share: popen gateways share agent processes
	shared   int  // --shared-agents: how many; 0: the default
}

func (f *fleetFlags) add(fl *pflag.FlagSet, dflt string) {
	fl.StringArrayVarP(&f.specs, "gateway", "g", nil,
		"gateway spec, N*SPEC for N gateways, or @FILE for an inventory of specs, one a line (repeatable; default: "+dflt+")")
	fl.IntVar(&f.maxGateways, "max-gateways", gateway.DefaultMaxGateways, "the most gateways one command starts")
	fl.IntVar(&f.maxParallel, "max-parallel", gateway.DefaultMaxParallel, "the most gateways started (and agents uploaded) at once")
	fl.BoolVar(&f.resident, "resident", false, "popen gateways use the user's resident agent (as popen//resident) unless their spec says resident=no")
	fl.BoolVar(&f.share, "share", true, "popen gateways share agent processes (--shared-agents of them); --share=false gives each its own, as execnet's popen (a spec's share= decides for its gateways)")
	fl.IntVar(&f.shared, "shared-agents", 0, "how many agent processes popen gateways share (default: one per CPU, at least 2)")
}

// list returns the specs with every @FILE replaced by the specs it holds.
func (f *fleetFlags) list() ([]string, error) { return f.listContext(context.Background()) }

// listContext is list that gives up reading an inventory (a FIFO, say)
// when ctx ends.
func (f *fleetFlags) listContext(ctx context.Context) ([]string, error) {
	var out []string
	for _, s := range f.specs {
		path, ok := strings.CutPrefix(s, "@")
		if !ok {
			out = append(out, s)
			continue
		}
		specs, err := readInventory(ctx, path)
		if err != nil {
			return nil, err
		}
		out = append(out, specs...)
	}
	return out, nil
}

// addMin adds --min-gateways, for commands that go on with the gateways
// that started.
func (f *fleetFlags) addMin(fl *pflag.FlagSet) {
	fl.StringVar(&f.minGateways, "min-gateways", "1",
		"fail unless at least N gateways start (a count, or a fraction of those asked for, as 0.9); the others are named and the exit status is 3")
}

// parseMin sets minStart from --min-gateways.
func (f *fleetFlags) parseMin() error {
	s := strings.TrimSpace(f.minGateways)
	if strings.Contains(s, ".") {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v > 0 && v <= 1) {
			return fmt.Errorf("--min-gateways %q: want a count, or a fraction above 0 and at most 1", f.minGateways)
		}
		f.minStart = gateway.WithMinGatewaysFraction(v)
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("--min-gateways %q: want a count of at least 1, or a fraction such as 0.9", f.minGateways)
	}
	f.minStart = gateway.WithMinGateways(n)
	return nil
}

// group returns a new group bounded by --max-gateways. It knows inproc
// specs, as the binary links the agent anyway.
func (f *fleetFlags) group(opts ...gateway.Option) *gateway.Group {
	opts = append(opts, inproc.Transport())
	if f.resident {
		opts = append(opts, gateway.WithResident(true))
	}
	if !f.share {
		opts = append(opts, gateway.WithShare(false))
	}
	gopts := []gateway.GroupOption{gateway.WithGatewayOptions(opts...), gateway.WithMaxGateways(f.maxGateways),
		gateway.WithMaxParallel(f.maxParallel)}
	if f.shared > 0 {
		gopts = append(gopts, gateway.WithSharedAgents(f.shared))
	}
	if f.minStart != nil {
		gopts = append(gopts, f.minStart)
	}
	return gateway.NewGroup(gopts...)
}

// maxInventory bounds an inventory file: a fleet of a few thousand specs is
// a few hundred KiB.
const maxInventory = 4 << 20

// readInventory reads an inventory: one spec (or N*SPEC) a line, blank
// lines and comments ignored, white space around a spec trimmed. Specs are
// checked when the gateways are made, with their line.
func readInventory(ctx context.Context, path string) ([]string, error) {
	f, err := openInput(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", path, err)
	}
	defer f.Close()
	defer context.AfterFunc(ctx, func() { f.Close() })()
	specs, err := parseInventory(io.LimitReader(f, maxInventory+1))
	if err != nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", path, err)
	}
	return specs, nil
}

func parseInventory(r io.Reader) ([]string, error) {
	var specs []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<10)
	n, read := 0, 0
	for sc.Scan() {
		n++
		read += len(sc.Bytes()) + 1
		if read > maxInventory {
			return nil, fmt.Errorf("larger than %s", formatBytes(maxInventory))
		}
		line := stripComment(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "@") {
			return nil, fmt.Errorf("line %d: an inventory cannot include another (%s)", n, line)
		}
		if _, spec, ok := strings.Cut(line, "*"); ok && strings.TrimSpace(spec) == "" {
			return nil, fmt.Errorf("line %d: %q has a count but no spec", n, line)
		}
		specs = append(specs, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("no gateway spec in it")
	}
	return specs, nil
}

// stripComment returns an inventory line without its comment and the white
// space around it. A comment starts at a # that begins the line or follows
// white space, as in a shell or ~/.ssh/config; a # inside a spec
// (env:TAG=a#b) is kept.
func stripComment(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			line = line[:i]
			break
		}
	}
	return strings.TrimSpace(line)
}
