// Package suggest finds the name a user probably meant when they misspelt
// one: a flag, a gateway type, a spec option.
package suggest

import (
	"fmt"
	"strings"
)

// maxLen bounds the names compared: no slip of the keyboard makes a name
// that long, and the comparison costs the product of the two lengths.
const maxLen = 256

// DidYouMean returns ` (did you mean "x"?)` for the candidate closest to s
// when it is close enough to be a slip (a third of its letters, at least
// one), else "".
func DidYouMean(s string, candidates []string) string {
	if best := Closest(s, candidates); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// Closest returns the candidate closest to s by edit distance, ignoring
// case, when it is close enough to be a slip, else "".
func Closest(s string, candidates []string) string {
	if len(s) > maxLen {
		return ""
	}
	s = strings.ToLower(s)
	best, bestDist := "", -1
	for _, c := range candidates {
		if len(c) > maxLen {
			continue
		}
		if d := distance(s, strings.ToLower(c)); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > max(1, len(best)/3) {
		return ""
	}
	return best
}

// distance is the Levenshtein distance of a and b, bytewise.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
