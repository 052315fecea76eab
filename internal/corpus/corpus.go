// Package corpus generates deterministic pseudo-English text for demos and
// tests of the wordcount example: the same size and seed always give the
// same bytes, on every platform and Go release.
package corpus

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strings"
)

// words is the vocabulary in order of rank: the first is the most frequent.
var words = strings.Fields(`
the of and to a in is that it was for on are as with his they at be this
from have or by one had not but what all were when we there can an your which
their said if do will each about how up out them then she many some so these
would other into has more her two like him see time could no make than first
been its who now people my made over did down only way find use may water long
little very after words called just where most know get through back much go
good new write our me man too any day same right look think also around another
came come work three word must because does part even place well such here take
why things help put years different away again off went old number great tell
men say small every found still between name should home big give air line set
own under read last never us left end along while might next sound below saw
something thought both few those always looked show large often together asked
house don't world going want school important until form food keep children feet
land side without boy once animals life enough took sometimes four head above
kind began almost live page got earth need far hand high year mother light parts
country father let night following picture being study second eyes soon times
story boys since white days ever paper hard near sentence better best across
during today others however sure means knew it's try told young miles sun ways
thing whole hear example heard several change answer room sea against top turned
learn point city play toward five using himself usually river channel agent
gateway module sandbox guest host wasm`)

// weights[i] is the cumulative Zipf weight of words[:i+1], exponent 1.07.
var weights = func() []float64 {
	w := make([]float64, len(words))
	sum := 0.0
	for i := range words {
		sum += 1 / math.Pow(float64(i+1), 1.07)
		w[i] = sum
	}
	return w
}()

// rng is a 64-bit xorshift* generator, written out so that its sequence
// never depends on the standard library's.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s ^= r.s >> 12
	r.s ^= r.s << 25
	r.s ^= r.s >> 27
	return r.s * 2685821657736338717
}

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// Generate writes exactly size bytes of text to w: sentences of words drawn
// from a fixed vocabulary with a Zipf-like distribution, capitalised, with
// commas and full stops, about ten sentences to a paragraph and lines of
// at most 80 bytes. The text always ends with a newline, which may be
// preceded by padding newlines to reach size exactly.
func Generate(w io.Writer, size int, seed int64) error {
	r := &rng{s: uint64(seed)*0x9E3779B97F4A7C15 + 1}
	bw := bufio.NewWriter(w)
	written, line := 0, 0
	sentence, paragraph := 0, 0
	for {
		tok := words[sort.SearchFloat64s(weights, r.float()*weights[len(weights)-1])]
		if sentence == 0 {
			tok = strings.ToUpper(tok[:1]) + tok[1:]
		}
		sentence++
		switch {
		case sentence > 4+r.intn(12):
			tok += "."
			sentence = 0
			paragraph++
		case r.intn(12) == 0:
			tok += ","
		}
		sep := " "
		switch {
		case line == 0:
			sep = ""
		case line+1+len(tok) > 80:
			sep = "\n"
		}
		if sentence == 0 && paragraph > 6+r.intn(8) {
			tok += "\n"
			paragraph = 0
		}
		// Keep one byte for the final newline.
		if written+len(sep)+len(tok)+1 > size {
			break
		}
		bw.WriteString(sep)
		bw.WriteString(tok)
		written += len(sep) + len(tok)
		switch {
		case strings.HasSuffix(tok, "\n"):
			line = 0
		case sep == "\n":
			line = len(tok)
		default:
			line += len(sep) + len(tok)
		}
	}
	for ; written < size; written++ {
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
