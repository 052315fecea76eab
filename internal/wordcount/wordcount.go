// Package wordcount is the reference word count of the wordcount example
// guest: the guest imports it, and tests and the CLI use it to check the
// guest's answer. wasm-examples/README.md states the same rule for the C and
// Rust guests.
package wordcount

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Count adds the words of text to into.
//
// Text is split on Unicode white space (strings.Fields); each piece is
// cleaned by word, and the non-empty results are counted.
func Count(text string, into map[string]int64) {
	for _, f := range strings.Fields(text) {
		if w := word(f); w != "" {
			into[w]++
		}
	}
}

// word is the whole rule for one white-space-separated field: trim leading
// and trailing Unicode punctuation (unicode.IsPunct), then lowercase
// (strings.ToLower). An empty result is not a word.
func word(field string) string {
	return strings.ToLower(strings.TrimFunc(field, unicode.IsPunct))
}

// Complete returns how many leading bytes of text end with a white-space
// rune, so that text[:n] holds only whole words and text[n:] is the start of
// a word (or a UTF-8 sequence) that the next chunk may continue. A streaming
// counter counts text[:n] and keeps text[n:] for later; at the end it counts
// what is left. The result equals Count of the whole concatenated text.
func Complete(text []byte) int {
	for end := len(text); end > 0; {
		r, size := utf8.DecodeLastRune(text[:end])
		if unicode.IsSpace(r) {
			return end
		}
		end -= size
	}
	return 0
}

// CountChunks counts data as the wordcount guest counts what it is sent in
// chunks of chunk bytes: each chunk joined to the unfinished word before
// it, whole words counted, the rest kept. It is the guest's loop run
// natively, for the figures that weigh a guest against native code
// (wasmnet bench's native-wordcount, wcfiles).
func CountChunks(data []byte, chunk int) map[string]int64 {
	counts := map[string]int64{}
	var pending []byte
	for rest := data; len(rest) > 0; {
		n := min(len(rest), chunk)
		pending = append(pending, rest[:n]...)
		rest = rest[n:]
		whole := Complete(pending)
		Count(string(pending[:whole]), counts)
		pending = append(pending[:0], pending[whole:]...)
	}
	Count(string(pending), counts)
	return counts
}
