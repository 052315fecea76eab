package main

import (
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
	writeEscaped(&b, []byte(s))
	return b.String()
}

// writeEscaped writes b escaped as escapeControls escapes it. It allocates
// nothing, so that a value of many megabytes prints in constant memory.
func writeEscaped(w io.Writer, b []byte) error {
	var buf [8]byte
	start := 0
	for i := 0; i < len(b); {
		if c := b[i]; c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' {
			i++
			continue
		}
		esc, size, keep := escapeOne(buf[:0], b[i:])
		if keep {
			i += size
			continue
		}
		if _, err := w.Write(b[start:i]); err != nil {
			return err
		}
		if _, err := w.Write(esc); err != nil {
			return err
		}
		i += size
		start = i
	}
	_, err := w.Write(b[start:])
	return err
}

// escapeOne looks at the rune b starts with, one that is not printable
// ASCII: it returns the rune's size and either keep, or the escape (empty
// for a carriage return that ends a line) appended to dst.
func escapeOne(dst, b []byte) (esc []byte, size int, keep bool) {
	const hex = "0123456789abcdef"
	r, size := rune(b[0]), 1
	if b[0] >= utf8.RuneSelf {
		r, size = utf8.DecodeRune(b)
	}
	switch {
	case r == utf8.RuneError && size == 1:
		r = rune(b[0])
	case r == '\r' && len(b) > 1 && b[1] == '\n':
		return dst, 1, false
	case r < 0x20 || r == 0x7f:
	case isHiddenControl(r):
		return append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf]), size, false
	default:
		return nil, size, true
	}
	return append(dst, '\\', 'x', hex[r>>4&0xf], hex[r&0xf]), size, false
}

// escapeCell is escapeControls for one cell of a table, where a newline or
// a tab would also break the rows and columns.
func escapeCell(s string) string {
	return escapeControls(strings.NewReplacer("\n", `\n`, "\t", `\t`).Replace(s))
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
	if err := writeEscaped(e.w, data[:len(data)-keep]); err != nil {
		return 0, err
	}
	e.partial = append(e.partial[:0], data[len(data)-keep:]...)
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
