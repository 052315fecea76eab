package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// escapeControls makes guest text safe to print on a terminal: every
// control character but newline and tab (C0, DEL, C1), every byte that is
// not UTF-8, and the bidirectional overrides that reorder what is shown
// become visible escapes (\x1b, \u009b, \u202e), so that a guest cannot set
// the window title, clear the screen or disguise a line. A carriage return
// right before a newline is dropped: it is a line end, not an attack.
func escapeControls(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\r' && strings.HasPrefix(s[i+1:], "\n"):
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case isHiddenControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c == 0x7f || c < 0x20 && c != '\n' && c != '\t' {
			return !isPlainUTF8(s)
		}
	}
	return false
}

// isPlainUTF8 says whether s, which has bytes beyond ASCII or controls, is
// valid UTF-8 with nothing escapeControls would change.
func isPlainUTF8(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || isHiddenControl(r) {
			return false
		}
	}
	return true
}

// isHiddenControl reports the C1 controls (which terminals may obey like
// ESC sequences) and the format characters that reorder text.
func isHiddenControl(r rune) bool {
	return r >= 0x80 && r <= 0x9f || r == 0x061c || r == 0x200e || r == 0x200f ||
		r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// escapingWriter escapes what it forwards. It holds back a rune cut in two
// by a Write until the next one brings the rest, so that text written in
// pieces is escaped as a whole. It is safe for concurrent use.
type escapingWriter struct {
	w io.Writer

	mu      sync.Mutex
	partial []byte // the first bytes of a rune the last Write cut
}

func (e *escapingWriter) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	data := p
	if len(e.partial) > 0 {
		data = append(e.partial, p...)
	}
	keep := incompleteTail(data)
	text := escapeControls(string(data[:len(data)-keep]))
	e.partial = append(e.partial[:0:0], data[len(data)-keep:]...)
	if _, err := io.WriteString(e.w, text); err != nil {
		return 0, err
	}
	return len(p), nil
}

// incompleteTail returns how many bytes at the end of b begin a rune that
// is not complete yet (at most 3).
func incompleteTail(b []byte) int {
	for i := 1; i <= utf8.UTFMax-1 && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if utf8.FullRune(b[len(b)-i:]) {
				return 0
			}
			return i
		}
	}
	return 0
}
