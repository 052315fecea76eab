package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// writeJSON writes v as marshalJSON(toJSON(v)) would, without building the
// converted value or the encoding in memory: a 60 MB byte string printed
// through encoding/json cost 2 GB (a string copy, six bytes per NUL, and
// the buffer's doublings), written here it costs the bufio buffer.
func writeJSON(w *bufio.Writer, v any) error {
	switch v := v.(type) {
	case nil:
		w.WriteString("null")
	case bool:
		w.WriteString(strconv.FormatBool(v))
	case int64:
		w.WriteString(strconv.FormatInt(v, 10))
	case uint64:
		w.WriteString(strconv.FormatUint(v, 10))
	case int, int8, int16, int32, uint, uint8, uint16, uint32:
		fmt.Fprint(w, v)
	case *big.Int:
		// A JSON number has no size limit; the wire bounds this one to
		// 8192 bits (channel.MaxBigIntBytes).
		w.WriteString(v.String())
	case float32:
		return writeJSON(w, float64(v))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			writeJSONString(w, fmt.Sprint(v))
			break
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		w.Write(b)
	case string:
		writeJSONString(w, v)
	case []byte:
		if utf8.Valid(v) {
			writeJSONBytes(w, v)
			break
		}
		w.WriteByte('"')
		enc := base64.NewEncoder(base64.StdEncoding, w)
		enc.Write(v)
		enc.Close()
		w.WriteByte('"')
	case []any:
		w.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				w.WriteByte(',')
			}
			if err := writeJSON(w, x); err != nil {
				return err
			}
		}
		w.WriteByte(']')
	case map[string]any:
		return writeJSONObject(w, v)
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Map:
			// Keys become strings first: two keys may become one, as
			// with toJSON.
			obj := make(map[string]any, rv.Len())
			for it := rv.MapRange(); it.Next(); {
				obj[keyString(it.Key().Interface())] = it.Value().Interface()
			}
			return writeJSONObject(w, obj)
		case reflect.Slice, reflect.Array:
			w.WriteByte('[')
			for i := range rv.Len() {
				if i > 0 {
					w.WriteByte(',')
				}
				if err := writeJSON(w, rv.Index(i).Interface()); err != nil {
					return err
				}
			}
			w.WriteByte(']')
		default:
			writeJSONString(w, fmt.Sprint(v))
		}
	}
	return nil
}

// writeJSONObject writes the keys in sorted order, as encoding/json does.
func writeJSONObject(w *bufio.Writer, obj map[string]any) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			w.WriteByte(',')
		}
		writeJSONString(w, k)
		w.WriteByte(':')
		if err := writeJSON(w, obj[k]); err != nil {
			return err
		}
	}
	w.WriteByte('}')
	return nil
}

// writeJSONString and writeJSONBytes escape s as encoding/json does with HTML escaping off:
// invalid UTF-8 becomes U+FFFD, U+2028 and U+2029 are escaped.
func writeJSONString(w *bufio.Writer, s string) { writeJSONBytes(w, []byte(s)) }

func writeJSONBytes(w *bufio.Writer, s []byte) {
	const hex = "0123456789abcdef"
	w.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			w.Write(s[start:i])
			switch b {
			case '"', '\\':
				w.WriteByte('\\')
				w.WriteByte(b)
			case '\b':
				w.WriteString(`\b`)
			case '\f':
				w.WriteString(`\f`)
			case '\n':
				w.WriteString(`\n`)
			case '\r':
				w.WriteString(`\r`)
			case '\t':
				w.WriteString(`\t`)
			default:
				w.WriteString(`\u00`)
				w.WriteByte(hex[b>>4])
				w.WriteByte(hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			w.Write(s[start:i])
			switch r {
			case utf8.RuneError:
				w.WriteString(`\ufffd`)
			default:
				fmt.Fprintf(w, `\u%04x`, r)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	w.Write(s[start:])
	w.WriteByte('"')
}

// writeItem writes one value after prefix and ends the line.
func writeItem(w io.Writer, prefix string, v any, suffix string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(prefix)
	if err := writeJSON(bw, v); err != nil {
		return err
	}
	bw.WriteString(suffix)
	return bw.Flush()
}
