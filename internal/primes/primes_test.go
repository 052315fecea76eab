package primes

import "testing"

func TestCount(t *testing.T) {
	tests := []struct{ a, b, want int64 }{
		{0, 0, 0},
		{0, 2, 0},
		{0, 3, 1},
		{-10, 10, 4},
		{10, 2, 0},
		{0, 100, 25},
		{0, 1000, 168},
		{1_000_000, 1_001_000, 75},
		{0, 1_000_000, 78498},
	}
	for _, tt := range tests {
		if got := Count(tt.a, tt.b); got != tt.want {
			t.Errorf("Count(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestIsPrimeLarge(t *testing.T) {
	// 2^31-1 is a Mersenne prime and 10^9+7 a well-known one.
	for _, p := range []int64{2147483647, 1000000007} {
		if !IsPrime(p) {
			t.Errorf("IsPrime(%d) = false", p)
		}
	}
	if IsPrime(2147483647 * 3) {
		t.Error("IsPrime(3*(2^31-1)) = true")
	}
}

func BenchmarkCount(b *testing.B) {
	for b.Loop() {
		Count(0, 100_000)
	}
}
