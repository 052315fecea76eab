// Package primes is the kernel of the primes example guest, shared with the
// native benchmarks so that both run exactly the same code.
package primes

// Count returns how many primes p satisfy a <= p < b, by trial division by
// 2 and then by odd numbers up to the square root. It is deliberately
// simple: the point is a deterministic, CPU-bound load.
func Count(a, b int64) int64 {
	var n int64
	for x := max(a, 2); x < b; x++ {
		if IsPrime(x) {
			n++
		}
	}
	return n
}

// IsPrime reports whether x is prime, by trial division.
func IsPrime(x int64) bool {
	if x < 2 {
		return false
	}
	if x%2 == 0 {
		return x == 2
	}
	for d := int64(3); d <= x/d; d += 2 {
		if x%d == 0 {
			return false
		}
	}
	return true
}
