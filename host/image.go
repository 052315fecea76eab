package host

import (
	"errors"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmnet/wasmnet/host/internal/wasmimage"
	"github.com/wasmnet/wasmnet/internal/wire"
)

// moduleImage lets an agent start a module from a memory image instead of
// having wazero apply its data segments at every instantiation (a Go
// module has tens of thousands of them), and, for a reactor, instead of
// running its _initialize (the Go runtime's start-up) at every execution:
// as Wizer does for wasmtime (RATIONALE.md, "Why are modules started from
// an image?").
//
// The agent compiles the module without its data section and with its
// mutable globals exported. Every execution gets a fresh linear memory
// that starts as a private copy-on-write mapping of an image the agent
// never writes again, so nothing one execution writes reaches another.
type moduleImage struct {
	globals []string
	reactor bool
	data    *memImage // memory as the data segments leave it

	mu    sync.Mutex
	snap  *snapshot // a reactor after _initialize; nil until taken
	tried bool      // a snapshot was taken or refused; never try again
}

// snapshot is an instance after its _initialize: memory and globals.
type snapshot struct {
	mem     *memImage
	pages   uint32
	globals []uint64
}

// newModuleImage splits b. It returns the code to compile and the image,
// or b itself and nil for a module that cannot start from an image.
func newModuleImage(b []byte, maxMemory uint64) ([]byte, *moduleImage) {
	split, err := wasmimage.Split(b, maxMemory)
	if err != nil {
		return b, nil
	}
	mem, err := newMemImage(split.Data)
	if err != nil {
		return b, nil
	}
	return split.Code, &moduleImage{globals: split.Globals, reactor: split.Reactor, data: mem}
}

// weight is the memory the images hold, for the store's limit.
func (img *moduleImage) weight() int64 {
	if img == nil {
		return 0
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	n := img.data.weight()
	if img.snap != nil {
		n += img.snap.mem.weight()
	}
	return n
}

// close releases the images; the store calls it once no execution uses
// the module. Memories already mapped stay valid.
func (img *moduleImage) close() {
	if img == nil {
		return
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	img.data.close()
	if img.snap != nil {
		img.snap.mem.close()
	}
	img.snap = nil
	img.tried = true
}

// releaseKept unmaps the memories the images keep for reuse.
func (img *moduleImage) releaseKept() {
	if img == nil {
		return
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	img.data.releaseKept()
	if img.snap != nil {
		img.snap.mem.releaseKept()
	}
}

// imagePlan is how one execution uses its module's image.
type imagePlan struct {
	img  *moduleImage
	snap *snapshot // restore this and skip _initialize; nil: start from data
	take bool      // snapshot the instance after its _initialize
}

// plan decides how an execution of req starts. A reactor's snapshot is
// taken with no arguments, environment, directories, clock or randomness,
// because the Go runtime reads those in _initialize, and under the
// agent's default memory limit (defaultLimit), because a guest learns its
// limit from a refused memory.grow: a request for any other runs
// _initialize itself, so that no client's options shape the state others
// start from, nor another's snapshot the state it starts from (issue 23).
func (img *moduleImage) plan(req *wire.ExecRequest, defaultLimit bool) *imagePlan {
	if img == nil {
		return nil
	}
	p := &imagePlan{img: img}
	if !img.reactor || !defaultLimit || len(req.Args) > 0 || len(req.Env) > 0 || len(req.Dirs) > 0 ||
		req.Walltime || req.Random || req.FakeClock {
		return p
	}
	img.mu.Lock()
	defer img.mu.Unlock()
	p.snap = img.snap
	p.take = !img.tried
	if p.take {
		img.tried = true // the first such execution takes it, alone
	}
	return p
}

// plainMemory is the image a plain execution (plainRequest) starts from
// now: the reactor's snapshot once taken, else the data.
func (img *moduleImage) plainMemory() *memImage {
	img.mu.Lock()
	defer img.mu.Unlock()
	if img.reactor && img.snap != nil {
		return img.snap.mem
	}
	return img.data
}

func (p *imagePlan) memory() *memImage {
	if p.snap != nil {
		return p.snap.mem
	}
	return p.img.data
}

// restore brings a fresh instance to the snapshot's state: the memory is
// already the snapshot's, but wazero sized it to the module's minimum.
func (p *imagePlan) restore(mod api.Module) error {
	s := p.snap
	if s == nil {
		return nil
	}
	mem := mod.Memory()
	if have := mem.Size() / 65536; have < s.pages {
		if _, ok := mem.Grow(s.pages - have); !ok {
			return errors.New("the module's initialised memory exceeds its limit")
		}
	}
	for i, name := range p.img.globals {
		g, ok := mod.ExportedGlobal(name).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("image: global %s is not exported", name)
		}
		g.Set(s.globals[i])
	}
	return nil
}

// initFailed lets a later execution take the snapshot when this one's
// _initialize failed (a run-time limit, a cancellation): such a failure
// says nothing about the next.
func (p *imagePlan) initFailed() {
	if !p.take {
		return
	}
	p.img.mu.Lock()
	p.img.tried = false
	p.img.mu.Unlock()
}

// takeSnapshot records mod, which has run its _initialize and nothing else,
// as the image of the later executions. clean reports that the
// initialisation touched nothing of its execution (no channel, no output),
// so that the snapshot holds nothing that belongs to one client.
func (p *imagePlan) takeSnapshot(mod api.Module, clean bool) {
	if !p.take || !clean {
		return
	}
	p.take = false
	mem := mod.Memory()
	buf, ok := mem.Read(0, mem.Size())
	if !ok {
		return
	}
	s := &snapshot{pages: mem.Size() / 65536}
	for _, name := range p.img.globals {
		g := mod.ExportedGlobal(name)
		if g == nil {
			return
		}
		s.globals = append(s.globals, g.Get())
	}
	m, err := newMemImage(buf)
	if err != nil {
		return
	}
	s.mem = m
	p.img.mu.Lock()
	p.img.snap = s
	p.img.mu.Unlock()
}
