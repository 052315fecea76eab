// Package wasmbin reads and writes the integers and vectors of the
// WebAssembly binary format: LEB128 numbers, vector lengths and names. The
// packages that rewrite (instrument) and split (wasmimage) modules share
// it, so a malformed module fails the same way in both.
//
// Every read checks bounds: a truncated or forged module yields an error,
// never a panic or a large allocation.
package wasmbin

import (
	"errors"
	"fmt"
	"io"
)

// ErrShort is returned when a module ends in the middle of a value. It
// wraps io.ErrUnexpectedEOF.
var ErrShort = fmt.Errorf("wasmbin: unexpected end of module: %w", io.ErrUnexpectedEOF)

// ErrLEB is returned for a LEB128 number longer than its type allows or
// whose value overflows it.
var ErrLEB = errors.New("wasmbin: malformed LEB128")

// A Reader walks the bytes of a module or a section. B and Off are open so
// that callers can copy spans they do not rewrite: B[start:Off].
type Reader struct {
	B   []byte
	Off int
}

// Done reports whether every byte has been read.
func (r *Reader) Done() bool { return r.Off >= len(r.B) }

// Byte reads one byte.
func (r *Reader) Byte() (byte, error) {
	if r.Off >= len(r.B) {
		return 0, ErrShort
	}
	c := r.B[r.Off]
	r.Off++
	return c, nil
}

// Bytes reads n bytes, without copying them.
func (r *Reader) Bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.B)-r.Off {
		return nil, ErrShort
	}
	p := r.B[r.Off : r.Off+n]
	r.Off += n
	return p, nil
}

// U32 reads an unsigned LEB128 of at most 32 bits.
func (r *Reader) U32() (uint32, error) {
	start := r.Off
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.Byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if v > 1<<32-1 {
				return 0, fmt.Errorf("%w: u32 overflows at offset %d", ErrLEB, start)
			}
			return uint32(v), nil
		}
	}
	return 0, fmt.Errorf("%w: u32 too long at offset %d", ErrLEB, start)
}

// S64 reads a signed LEB128 of at most 64 bits.
func (r *Reader) S64() (int64, error) {
	start := r.Off
	var v int64
	for shift := 0; shift < 70; {
		c, err := r.Byte()
		if err != nil {
			return 0, err
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: s64 too long at offset %d", ErrLEB, start)
}

// SkipLEB skips a signed or unsigned LEB128 of at most maxBytes bytes
// (5 for 32 bits, 10 for 64).
func (r *Reader) SkipLEB(maxBytes int) error {
	start := r.Off
	for range maxBytes {
		c, err := r.Byte()
		if err != nil {
			return err
		}
		if c&0x80 == 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: longer than %d bytes at offset %d", ErrLEB, maxBytes, start)
}

// VecLen reads a vector length and checks that the bytes left could hold
// that many elements of at least one byte each, so that a forged length
// cannot make the caller allocate much.
func (r *Reader) VecLen() (int, error) {
	n, err := r.U32()
	if err != nil {
		return 0, err
	}
	if int64(n) > int64(len(r.B)-r.Off) {
		return 0, fmt.Errorf("wasmbin: vector of %d elements in %d bytes: %w", n, len(r.B)-r.Off, ErrShort)
	}
	return int(n), nil
}

// AppendU32 appends v as an unsigned LEB128.
func AppendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendI32 appends v as a signed LEB128.
func AppendI32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendName appends s as a name: its length, then its bytes.
func AppendName(b []byte, s string) []byte {
	return append(AppendU32(b, uint32(len(s))), s...)
}

// LenOfU32 returns the length of the LEB128 at the start of b (all of b if
// it does not end there).
func LenOfU32(b []byte) int {
	for i, c := range b {
		if c&0x80 == 0 {
			return i + 1
		}
	}
	return len(b)
}

// Sections calls fn with the id and body of each section of wasm, a
// binary module whose 8-byte header the caller checked, in their order,
// until fn fails. A section that does not fit in wasm is an error naming
// it.
func Sections(wasm []byte, fn func(id byte, body []byte) error) error {
	r := &Reader{B: wasm, Off: min(8, len(wasm))}
	for !r.Done() {
		id, err := r.Byte()
		if err != nil {
			return err
		}
		n, err := r.U32()
		if err != nil {
			return fmt.Errorf("section %d: %w", id, err)
		}
		body, err := r.Bytes(int(n))
		if err != nil {
			return fmt.Errorf("section %d: %w", id, err)
		}
		if err := fn(id, body); err != nil {
			return err
		}
	}
	return nil
}
