package host

import (
	"context"
	crand "crypto/rand"
	"io"
	"math/rand/v2"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmnet/wasmnet/host/internal/instrument"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// instance is a guest instance and the execution it runs for. What wazero
// binds to an instance when it makes it (output, sleep, randomness) goes
// through the instance to its current execution, so that an instance can
// run one execution after another.
//
// After an execution that ended normally, the agent may keep its instance,
// reset to the image it started from, for the module's next execution,
// instead of having wazero instantiate the module again: for a Go guest,
// that instantiation builds a table of thousands of functions, and was
// most of what a RemoteExec cost (RATIONALE.md, "Why are instances
// reused?"). Only an instance wholly described by its memory and globals
// is kept: see keepable.
type instance struct {
	mod api.Module
	cur atomic.Pointer[execution]
	// entry is the export last called, kept because wazero gives each
	// api.Function a stack of its own.
	entry     api.Function
	entryName string

	// What the instance was reset to: the image its memory maps, its size
	// in pages, its mutable globals and their values. limit is the memory
	// limit its mapping was reserved for.
	mem     resettableMemory // nil: the memory cannot be reset
	image   *memImage
	pages   uint32
	globals []api.MutableGlobal
	values  []uint64
	limit   uint64
	// tenant is whose executions the instance ran: it runs no other's.
	tenant string
}

// resettableMemory is a linear memory that can be brought back to its
// image in place (image_reuse_linux.go).
type resettableMemory interface {
	resetInPlace() bool
	setAllocator(a *limitedAllocator)
}

// maxKeptInstances bounds the instances kept per module.
const maxKeptInstances = 4

// config is the part of the module configuration an instance binds.
func (in *instance) config(mc wazero.ModuleConfig, req *wire.ExecRequest) wazero.ModuleConfig {
	mc = mc.WithStdout(instanceOutput{in, 1}).WithStderr(instanceOutput{in, 2}).WithRandSource(instanceRand{in}).
		WithWalltime(in.walltime, sys.ClockResolution(time.Microsecond))
	if req.FakeClock {
		mc = mc.WithNanotime(in.nanotime, 1)
	} else {
		mc = mc.WithNanotime(in.monotime, 1).WithNanosleep(in.sleep)
	}
	return mc
}

// The fake clocks are an execution's, not an instance's: wazero's own
// advance with each reading for as long as the instance lives, so that a
// kept instance would tell its next execution how often the last one read
// them, a channel from one execution to the next, which may be another
// tenant's.

// fakeEpoch is where a guest's fake wall clock starts, wazero's:
// 2022-01-01 00:00:00 UTC.
const fakeEpoch = 1640995200 * int64(time.Second)

// fakeClocks are what a guest reads from clocks it was not granted: the
// wall clock from fakeEpoch and, with WithFakeClock, the monotonic clock
// from zero, each a millisecond later at every reading, as wazero's are.
// Only the guest's goroutine reads them.
type fakeClocks struct{ wall, mono int64 }

func (in *instance) walltime() (int64, int32) {
	var t int64
	if e := in.cur.Load(); e != nil {
		t = e.clocks.wall
		e.clocks.wall += int64(time.Millisecond)
	}
	t += fakeEpoch
	return t / 1e9, int32(t % 1e9)
}

func (in *instance) nanotime() int64 {
	e := in.cur.Load()
	if e == nil {
		return 0
	}
	t := e.clocks.mono
	e.clocks.mono += int64(time.Millisecond)
	return t
}

// monoBase is what a guest's real monotonic clock reads when its execution
// starts. The host's own CLOCK_MONOTONIC would tell a guest the host's
// uptime, and two executions whether they ran on one host; a clock of each
// execution's own, running at the real rate, tells neither. Not zero: Go's
// runtime takes a zero reading for a broken clock.
const monoBase = int64(time.Second)

func (in *instance) monotime() int64 {
	e := in.cur.Load()
	if e == nil {
		return monoBase
	}
	return monoBase + int64(time.Since(e.started))
}

func (in *instance) sleep(ns int64) {
	if e := in.cur.Load(); e != nil {
		e.sleep(ns)
	}
}

type instanceOutput struct {
	in     *instance
	stream int
}

func (o instanceOutput) Write(p []byte) (int, error) {
	e := o.in.cur.Load()
	switch {
	case e == nil:
		return len(p), nil
	case o.stream == 1:
		return e.stdout.Write(p)
	default:
		return e.stderr.Write(p)
	}
}

type instanceRand struct{ in *instance }

func (r instanceRand) Read(p []byte) (int, error) {
	if e := r.in.cur.Load(); e != nil {
		return e.random.Read(p)
	}
	return 0, io.EOF
}

// randomFor is what an execution reads as random bytes: real ones when
// granted, else the same bytes for every execution.
func randomFor(req *wire.ExecRequest) io.Reader {
	if req.Random {
		return crand.Reader
	}
	return rand.NewChaCha8([32]byte{'w', 'a', 's', 'm', 'n', 'e', 't'})
}

// record notes the state of a new instance of m before its guest runs,
// so that it can be reset to it: its image, memory size and globals. Only
// an instance of a plain execution of a module with static tables may be
// kept, so only those are recorded.
func (in *instance) record(e *execution, m *storedModule) {
	img := m.image
	if !e.plain || img == nil || !m.staticTables {
		return
	}
	mem, ok := e.memory.made.(resettableMemory)
	if !ok || in.mod.Memory() == nil {
		return
	}
	for _, name := range img.globals {
		g, ok := in.mod.ExportedGlobal(name).(api.MutableGlobal)
		if !ok {
			return
		}
		in.globals = append(in.globals, g)
		in.values = append(in.values, g.Get())
	}
	in.mem, in.image, in.limit = mem, e.memory.image, e.memory.limit
	in.tenant = e.agent.cfg.tenant
	in.pages = in.mod.Memory().Size() / 65536
}

// staticTables reports whether m was instrumented as a module that never
// changes its tables (instrument.ImportNameStatic).
func staticTables(m wazero.CompiledModule) bool {
	for _, f := range m.ImportedFunctions() {
		if module, name, _ := f.Import(); module == instrument.ImportModule {
			return name == instrument.ImportNameStatic
		}
	}
	return false
}

// keepable reports whether an instance whose execution e ended with err
// can be reset and run again, as a fresh instance of the same image would
// run: its execution returned (a trapped or stopped guest's state is not
// looked at), the instance was not closed (a proc_exit), its execution
// asked for nothing bound to one instance, it started from the image the
// module's next plain execution starts from (not the one a reactor's
// first execution started from before it took its snapshot), its memory
// did not grow and can be reset, and its guest still holds the standard
// streams it started with and nothing else.
func (in *instance) keepable(e *execution, err error) bool {
	return err == nil && in.mem != nil && !in.mod.IsClosed() && e.plain &&
		in.image == e.image.img.plainMemory() &&
		in.mod.Memory().Size()/65536 == in.pages && stdioIntact(in.mod) &&
		in.reset()
}

// reset brings the instance back to what record saw.
func (in *instance) reset() bool {
	if !in.mem.resetInPlace() {
		return false
	}
	for i, g := range in.globals {
		g.Set(in.values[i])
	}
	return true
}

// function returns the export name, which exists.
func (in *instance) function(name string) api.Function {
	if in.entry == nil || in.entryName != name {
		in.entry, in.entryName = in.mod.ExportedFunction(name), name
	}
	return in.entry
}

// bind makes a kept instance run e.
func (in *instance) bind(e *execution) {
	in.mem.setAllocator(e.memory)
	in.cur.Store(e)
}

func (in *instance) close() { in.mod.Close(context.Background()) }

// takeInstance returns an instance of m kept for tenant's executions that
// start from image with the memory limit limit, or nil.
func (s *moduleStore) takeInstance(m *storedModule, image *memImage, limit uint64, tenant string) *instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, in := range m.kept {
		if in.image == image && in.limit == limit && in.tenant == tenant {
			m.kept = append(m.kept[:i], m.kept[i+1:]...)
			return in
		}
	}
	return nil
}

// endInstance keeps in for m's next execution if its execution e, which
// ended with err, left it keepable, or closes it.
func (s *moduleStore) endInstance(m *storedModule, in *instance, e *execution, err error) {
	in.cur.Store(nil)
	if in.keepable(e, err) {
		s.mu.Lock()
		kept := !m.evicted && len(m.kept) < maxKeptInstances
		if kept {
			m.kept = append(m.kept, in)
		}
		s.mu.Unlock()
		if kept {
			return
		}
	}
	in.close()
}

// closeKeptLocked closes the instances kept of m.
func (m *storedModule) closeKeptLocked() {
	for _, in := range m.kept {
		in.close()
	}
	m.kept = nil
}

// plainRequest reports whether an execution asks for nothing that wazero
// binds to an instance at its making: arguments, environment, directories,
// clocks other than the default, randomness. Only such executions run on
// kept instances.
func plainRequest(req *wire.ExecRequest) bool {
	return len(req.Args) == 0 && len(req.Env) == 0 && len(req.Dirs) == 0 && !req.Walltime && !req.Random && !req.FakeClock
}

// stdioIntact reports whether mod's guest still has descriptors 0, 1 and 2
// and no other. A guest may close its standard streams (WASI fd_close),
// which wazero does by forgetting them, and the next execution must not
// find them gone. wazero has no API for an instance's descriptors, so this
// reads its ModuleInstance.Sys.FS() through reflection, and answers false
// whenever it finds something else there: a wazero that changed keeps
// instances no longer, and runs no worse.
func stdioIntact(mod api.Module) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	v := reflect.ValueOf(mod)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return false
	}
	sys := v.Elem().FieldByName("Sys")
	if !sys.IsValid() || sys.Kind() != reflect.Pointer || sys.IsNil() {
		return false
	}
	fs := sys.MethodByName("FS")
	if !fs.IsValid() {
		return false
	}
	lookup := fs.Call(nil)[0].MethodByName("LookupFile")
	if !lookup.IsValid() || lookup.Type().NumIn() != 1 || lookup.Type().In(0) != reflect.TypeFor[int32]() ||
		lookup.Type().NumOut() != 2 || lookup.Type().Out(1).Kind() != reflect.Bool {
		return false
	}
	for fd := int32(0); fd <= 3; fd++ {
		if open := lookup.Call([]reflect.Value{reflect.ValueOf(fd)})[1].Bool(); open != (fd < 3) {
			return false
		}
	}
	return true
}
