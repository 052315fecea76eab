package instrument

import (
	"fmt"

	"github.com/wasmnet/wasmnet/host/internal/wasmbin"
)

// Bounds on a module's shape, checked before the module is compiled. The
// compiler's memory and time grow with these, by far more than the bytes
// that declare them: a 4-byte empty function costs wazero some 500 bytes
// of memory, and every level of loop nesting makes the compilation of
// what it encloses slower. A module past one is refused with an error
// naming it, so that one upload cannot exhaust the memory or the time of
// the process that compiles it for every other client. Each is far above
// what Go, C, Rust and the Starlark interpreter guests need
// (SECURITY.md, "Module shape").
const (
	MaxTypes        = 1 << 16
	MaxImports      = 1 << 12
	MaxFuncs        = 1 << 17 // defined functions
	MaxGlobals      = 1 << 16
	MaxTables       = 1 << 6
	MaxElemSegments = 1 << 16
	MaxDataSegments = 1 << 20 // Go guests have one per variable initialised
	MaxExports      = 1 << 17 // with one per mutable global, which an image adds (wasmimage)
	MaxFuncBytes    = 4 << 20 // one function body
	MaxCodeBytes    = 48 << 20
	MaxNesting      = 1 << 13 // open blocks, ifs and loops in one function
	MaxLoopNesting  = 16      // open loops in one function
	MaxTableEntries = 1 << 20 // per table, initial or grown
	// MaxCompileCost bounds the sum over functions of their bytes times
	// the depth of their deepest block, which the time wazero takes to
	// compile them follows (some 4 ns each): 20 times the Starlark
	// interpreter's.
	MaxCompileCost = 8 << 30
)

// section ids only the bounds need.
const (
	secTable = 4
	secData  = 11
)

// checkCounts refuses a module whose sections declare more items than
// the bounds allow, before anything reads the items.
func (m *module) checkCounts() error {
	bounds := []struct {
		id   byte
		max  int
		what string
	}{
		{secType, MaxTypes, "types"}, {secImport, MaxImports, "imports"}, {secFunc, MaxFuncs, "functions"},
		{secTable, MaxTables, "tables"}, {secGlobal, MaxGlobals, "globals"}, {secExport, MaxExports, "exports"},
		{secElem, MaxElemSegments, "element segments"}, {secData, MaxDataSegments, "data segments"},
	}
	for _, b := range bounds {
		i, _, n, err := m.vec(b.id)
		if i >= 0 && err != nil {
			return fmt.Errorf("instrument: section %d: %w", b.id, err)
		}
		if n > b.max {
			return fmt.Errorf("instrument: the module declares %d %s, past the bound of %d", n, b.what, b.max)
		}
	}
	if i := m.find(secCode); i >= 0 && len(m.sections[i].body) > MaxCodeBytes {
		return fmt.Errorf("instrument: the module has %d bytes of code, past the bound of %d", len(m.sections[i].body), MaxCodeBytes)
	}
	return nil
}

// capTables gives every table the module defines a maximum of at most
// MaxTableEntries, so that table.grow past it returns -1: the memory
// limit bounds linear memory only, and a table entry costs the host 8
// bytes or more.
func (m *module) capTables() error {
	i, r, n, err := m.vec(secTable)
	if i < 0 || err != nil {
		return err
	}
	body := wasmbin.AppendU32(nil, uint32(n))
	for t := range n {
		ref, err := r.Byte()
		if err != nil {
			return err
		}
		flags, err := r.Byte()
		if err != nil {
			return err
		}
		if flags > 1 {
			return fmt.Errorf("instrument: table %d has limits flags 0x%02x", t, flags)
		}
		min, err := r.U32()
		if err != nil {
			return err
		}
		max := uint32(MaxTableEntries)
		if flags == 1 {
			if max, err = r.U32(); err != nil {
				return err
			}
			max = uint32(min64(uint64(max), MaxTableEntries))
		}
		if min > MaxTableEntries {
			return fmt.Errorf("instrument: table %d has %d entries, past the bound of %d", t, min, MaxTableEntries)
		}
		body = wasmbin.AppendU32(wasmbin.AppendU32(append(body, ref, 1), min), max)
	}
	m.sections[i].body = body
	return nil
}

func min64(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}

// addCost counts the cost of compiling a function of size bytes whose
// blocks nest depth deep, and refuses a module whose functions together
// cost past MaxCompileCost.
func (m *module) addCost(size uint64, depth int) error {
	m.cost += size * uint64(max(depth, 1))
	if m.cost > MaxCompileCost {
		return fmt.Errorf("instrument: the module's code is too deeply nested for its size (%d byte-levels, past the bound of %d)", m.cost, uint64(MaxCompileCost))
	}
	return nil
}
