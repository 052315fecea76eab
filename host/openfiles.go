package host

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Descriptors are bounded twice (SECURITY.md, "Open files"): each
// execution may hold at most Config.WithMaxOpenFiles of them, and all
// executions of the agents made from one Config (every client of a
// `wasmnet serve`) together leave a reserve of the process's descriptors
// free, for accepting connections, the module cache and the clients'
// channels. Without the second bound a few executions under their own
// limit could still take the last descriptor of the process.

// DefaultMaxOpenFiles is how many descriptors one execution may hold
// unless Config.WithMaxOpenFiles says otherwise: its directory grants and
// the files and directories it opened in them.
const DefaultMaxOpenFiles = 1024

// WASI's errno values for a refused open; wazero's errno type has neither.
const (
	wasiEMFILE = 33
	wasiENFILE = 41
)

// WithMaxOpenFiles bounds the descriptors one execution holds; an open
// past it fails with EMFILE in the guest. Default DefaultMaxOpenFiles.
func (c Config) WithMaxOpenFiles(n int) Config { c.maxOpenFiles = n; return c }

// fileBudget counts descriptors against a maximum. It is safe for
// concurrent use.
type fileBudget struct {
	max  int64
	used atomic.Int64
}

func (b *fileBudget) take() bool {
	if b.used.Add(1) > b.max {
		b.used.Add(-1)
		return false
	}
	return true
}

func (b *fileBudget) give() { b.used.Add(-1) }

// processFileBudget is the share of the process's descriptors that
// executions may hold together: all but a reserve of a quarter of them,
// and at least 256 or half of them. Go raises the soft RLIMIT_NOFILE to
// the hard one when a program starts, so the soft limit is the number to
// read. nil where there is no such limit.
func processFileBudget() *fileBudget {
	n, ok := descriptorLimit()
	if !ok {
		return nil
	}
	reserve := max(min(256, n/2), n/4)
	return &fileBudget{max: n - reserve}
}

// execFiles is what one execution's descriptors count against. Only the
// guest's goroutine opens, but files are closed on another after it ends.
type execFiles struct {
	own     fileBudget
	process *fileBudget // nil: none
	// refused is the WASI errno of the last open refused for a bound,
	// which wazero cannot say (instantiateWASI); guest's goroutine only.
	refused uint16
}

func newExecFiles(cfg *Config) *execFiles {
	n := cfg.maxOpenFiles
	if n <= 0 {
		n = DefaultMaxOpenFiles
	}
	return &execFiles{own: fileBudget{max: int64(n)}, process: cfg.files}
}

// take counts one more descriptor, or reports why it may not be opened.
func (f *execFiles) take() error {
	if !f.own.take() {
		f.refused = wasiEMFILE
		return fmt.Errorf("exec: the execution holds its limit of %d open files: %w", f.own.max, syscall.EMFILE)
	}
	if f.process != nil && !f.process.take() {
		f.own.give()
		f.refused = wasiENFILE
		return fmt.Errorf("exec: the agent's executions hold their limit of %d open files: %w", f.process.max, syscall.ENFILE)
	}
	return nil
}

func (f *execFiles) give() {
	f.own.give()
	if f.process != nil {
		f.process.give()
	}
}

// noteKernelRefusal records an open the kernel refused for want of
// descriptors, so that the guest sees that and not an I/O error.
func (f *execFiles) noteKernelRefusal(err error) {
	switch {
	case errors.Is(err, syscall.EMFILE):
		f.refused = wasiEMFILE
	case errors.Is(err, syscall.ENFILE):
		f.refused = wasiENFILE
	}
}

// instantiateWASI instantiates wazero's WASI with its path_open wrapped:
// wazero's errno type has no EMFILE or ENFILE and turns them into EIO,
// so the wrapper puts back the errno of an open refused for a bound.
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	probe := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(probe)
	compiled, err := probe.Compile(ctx)
	if err != nil {
		return err
	}
	def := compiled.ExportedFunctions()["path_open"]
	open, ok := def.GoFunction().(api.GoModuleFunction)
	compiled.Close(ctx)
	if !ok {
		return errors.New("wazero's path_open is not a Go function")
	}
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			e, _ := ctx.Value(execKey{}).(*execution)
			if e == nil || e.files == nil {
				open.Call(ctx, mod, stack)
				return
			}
			e.files.refused = 0
			open.Call(ctx, mod, stack)
			if r := e.files.refused; r != 0 && stack[0] != 0 {
				stack[0] = uint64(r)
			}
		}), def.ParamTypes(), def.ResultTypes()).
		WithParameterNames(def.ParamNames()...).
		Export("path_open")
	_, err = b.Instantiate(ctx)
	return err
}
