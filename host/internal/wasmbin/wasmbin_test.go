package wasmbin

import (
	"errors"
	"io"
	"math"
	"testing"
)

func TestU32(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want uint32
		err  error
	}{
		{"zero", []byte{0}, 0, nil},
		{"two bytes", []byte{0xe5, 0x8e, 0x26}, 624485, nil},
		{"max", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, math.MaxUint32, nil},
		{"padded", []byte{0x80, 0x80, 0x80, 0x80, 0x00}, 0, nil},
		{"overflow", []byte{0xff, 0xff, 0xff, 0xff, 0x1f}, 0, ErrLEB},
		{"too long", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, ErrLEB},
		{"short", []byte{0x80, 0x80}, 0, ErrShort},
		{"empty", nil, 0, ErrShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&Reader{B: tt.in}).U32()
			if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("U32(% x) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
	if _, err := (&Reader{B: []byte{0x80}}).U32(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a truncated number: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, v := range []uint32{0, 1, 63, 64, 127, 128, 1 << 20, math.MaxUint32} {
		b := AppendU32(nil, v)
		r := &Reader{B: b}
		if got, err := r.U32(); got != v || err != nil || !r.Done() || LenOfU32(b) != len(b) {
			t.Errorf("U32 of AppendU32(%d) = %d, %v (done %v, LenOfU32 %d of %d)", v, got, err, r.Done(), LenOfU32(b), len(b))
		}
	}
	for _, v := range []int32{0, 1, -1, 63, 64, -64, -65, math.MaxInt32, math.MinInt32} {
		b := AppendI32(nil, v)
		if got, err := (&Reader{B: b}).S64(); got != int64(v) || err != nil {
			t.Errorf("S64 of AppendI32(%d) = %d, %v", v, got, err)
		}
		r := &Reader{B: b}
		if err := r.SkipLEB(5); err != nil || !r.Done() {
			t.Errorf("SkipLEB(5) of AppendI32(%d): %v, done %v", v, err, r.Done())
		}
	}
	r := &Reader{B: AppendName(nil, "wasmnet")}
	if n, err := r.VecLen(); n != 7 || err != nil {
		t.Fatalf("name length %d, %v", n, err)
	}
	if b, err := r.Bytes(7); string(b) != "wasmnet" || err != nil || !r.Done() {
		t.Fatalf("name %q, %v", b, err)
	}
}

func TestForgedLengths(t *testing.T) {
	// A vector claiming 2^32-1 elements in 3 bytes.
	if _, err := (&Reader{B: []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3}}).VecLen(); !errors.Is(err, ErrShort) {
		t.Errorf("VecLen of a forged length: %v, want ErrShort", err)
	}
	r := &Reader{B: []byte{1, 2, 3}}
	for _, n := range []int{-1, 4} {
		if _, err := r.Bytes(n); !errors.Is(err, ErrShort) {
			t.Errorf("Bytes(%d) of 3: %v, want ErrShort", n, err)
		}
	}
	if err := (&Reader{B: []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80}}).SkipLEB(5); !errors.Is(err, ErrLEB) {
		t.Errorf("SkipLEB(5) of 6 bytes: %v, want ErrLEB", err)
	}
	if _, err := (&Reader{B: []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}}).S64(); !errors.Is(err, ErrLEB) {
		t.Errorf("S64 of 11 bytes: %v, want ErrLEB", err)
	}
}
