package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// parseJSONValue turns a --send argument into the value sent: JSON numbers
// that are integers become int64, other numbers float64, objects
// map[string]any, arrays []any, null nil.
func parseJSONValue(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("--send %s: %w", s, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("--send %s: more than one JSON value", s)
	}
	return fromJSON(v), nil
}

func fromJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case []any:
		for i := range v {
			v[i] = fromJSON(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = fromJSON(v[k])
		}
	}
	return v
}

// toJSON makes a received value printable as JSON: []byte becomes a string
// when it is valid UTF-8 and base64 otherwise, map keys become strings,
// non-finite floats become strings, and anything else JSON cannot hold
// (a channel, say) is printed with fmt.
func toJSON(v any) any {
	switch v := v.(type) {
	case nil, bool, string, int64, uint64, int, int8, int16, int32, uint, uint8, uint16, uint32:
		return v
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprint(v)
		}
		return v
	case float32:
		return toJSON(float64(v))
	case []byte:
		if utf8.Valid(v) {
			return string(v)
		}
		return base64.StdEncoding.EncodeToString(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = toJSON(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = toJSON(x)
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			out[keyString(it.Key().Interface())] = toJSON(it.Value().Interface())
		}
		return out
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = toJSON(rv.Index(i).Interface())
		}
		return out
	}
	return fmt.Sprint(v)
}

func keyString(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case []byte:
		return toJSON(k).(string)
	}
	return fmt.Sprint(k)
}

// marshalJSON encodes v on one line without HTML escaping.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// printItem writes one received item: "gw2: VALUE" or, with asJSON,
// {"type":"item","gateway":"gw2","value":VALUE}. It streams the value (writeJSON), so
// that printing costs little beside the value itself.
func printItem(w io.Writer, gateway string, v any, asJSON bool) error {
	if asJSON {
		var prefix bytes.Buffer
		prefix.WriteString(`{"type":"item","gateway":`)
		bw := bufio.NewWriter(&prefix)
		writeJSONString(bw, gateway)
		bw.Flush()
		prefix.WriteString(`,"value":`)
		return writeItem(w, prefix.String(), v, "}\n")
	}
	// JSON escapes C0 controls but leaves DEL, C1 and the rest.
	return writeItem(&escapingWriter{w: w}, gateway+": ", v, "\n")
}

// counts merges results that are maps of string to integer, such as the
// wordcount guest's.
type counts map[string]int64

// add adds v, which must be a map of string (or bytes) to integer. A sum
// beyond int64 is an error, not a wrapped count.
func (c counts) add(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map {
		return fmt.Errorf("the guest sent %s, not a map of string to integer", describeValue(v))
	}
	for it := rv.MapRange(); it.Next(); {
		var k string
		switch key := it.Key().Interface().(type) {
		case string:
			k = key
		case []byte:
			k = string(key)
		default:
			return fmt.Errorf("the guest sent a map with %s as a key, not a map of string to integer", describeValue(key))
		}
		var n int64
		switch x := it.Value().Interface().(type) {
		case int64:
			n = x
		case uint64:
			if x > math.MaxInt64 {
				return fmt.Errorf("the guest sent a count of %d for %q, beyond a 64-bit integer", x, k)
			}
			n = int64(x)
		default:
			return fmt.Errorf("the guest sent a map with %s for %q, not a map of string to integer", describeValue(x), k)
		}
		if err := c.addOne(k, n); err != nil {
			return err
		}
	}
	return nil
}

// addOne adds n to the count of k, failing rather than wrapping around.
func (c counts) addOne(k string, n int64) error {
	sum := c[k] + n
	if n > 0 && sum < c[k] || n < 0 && sum > c[k] {
		return fmt.Errorf("the counts of %q sum beyond a 64-bit integer (%d + %d)", k, c[k], n)
	}
	c[k] = sum
	return nil
}

// describeValue names the kind of a received value in English, with its
// article: "an integer", "a string", "a list".
func describeValue(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case bool:
		return "a boolean"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "an integer"
	case float32, float64:
		return "a float"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map:
		return "a map"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return fmt.Sprintf("a value of type %T", v)
}

type countEntry struct {
	Type  string `json:"type"` // "count", with --json
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// addCounts adds the counts of o. On an error (a sum beyond int64) c is
// left with some of o added: the run has failed by then.
func (c counts) addCounts(o counts) error {
	for k, n := range o {
		if err := c.addOne(k, n); err != nil {
			return err
		}
	}
	return nil
}

// top returns the entries by count, highest first, then by key; all of
// them when n <= 0.
func (c counts) top(n int) []countEntry {
	out := make([]countEntry, 0, len(c))
	for k, v := range c {
		out = append(out, countEntry{Key: k, Count: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if n > 0 && n < len(out) {
		out = out[:n]
	}
	return out
}

// print writes the merged counts: "COUNT KEY" lines, or one JSON object
// {"type":"count","key":...,"count":...} per line.
func (c counts) print(w io.Writer, n int, asJSON bool) error {
	entries := c.top(n)
	width := 1
	if len(entries) > 0 {
		width = len(fmt.Sprint(entries[0].Count))
	}
	for _, e := range entries {
		if asJSON {
			e.Type = "count"
			b, err := marshalJSON(e)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s\n", b)
			continue
		}
		if _, err := fmt.Fprintf(w, "%*d %s\n", width, e.Count, escapeControls(e.Key)); err != nil {
			return err
		}
	}
	return nil
}

// gatewayStats is what the summary says of one gateway.
type gatewayStats struct {
	id        string
	items     int   // items received from the guest
	sentBytes int64 // input bytes sent to the guest
	start     time.Time
	end       time.Time // when its channel closed; zero if it never did
	err       error     // how the guest ended, if not cleanly
	lost      bool      // its gateway was lost before the guest answered
	redealt   int       // chunks dealt again to others because it was lost
}

// failed says whether the guest ended with an error that the job did not
// make good: a lost gateway whose input was dealt again is not a failure.
func (s *gatewayStats) failed(input bool) bool {
	return s.err != nil && !(s.lost && input)
}

// printSummary writes a table of the gateways to w.
func printSummary(w io.Writer, stats []*gatewayStats, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GATEWAY\tITEMS\tSENT\tTIME\tSTATUS")
	for _, s := range slices.Clone(stats) {
		end := s.end
		if end.IsZero() {
			end = now
		}
		status := "ok"
		switch {
		case s.lost && s.redealt > 0:
			status = fmt.Sprintf("LOST: %d chunks dealt again", s.redealt)
		case s.lost:
			status = "LOST"
		case s.err != nil:
			status, _, _ = strings.Cut(escapeControls(s.err.Error()), "\n") // the whole error follows the table
		case s.end.IsZero():
			status = "still running"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", escapeCell(s.id), s.items, formatBytes(s.sentBytes),
			end.Sub(s.start).Round(time.Millisecond), status)
	}
	tw.Flush()
}

// formatBytes picks the unit by the rounded figure, so that a count just
// under a MiB reads 1.0 MiB rather than 1024.0 KiB.
func formatBytes(n int64) string {
	const roundsUp = 1023.95 // what "%.1f" prints as 1024.0
	switch f := float64(n); {
	case f >= roundsUp*(1<<10):
		return fmt.Sprintf("%.1f MiB", f/(1<<20))
	case f >= roundsUp:
		return fmt.Sprintf("%.1f KiB", f/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// guestErrorText is how run prints a guest's error after the summary. When
// the agent built it from the guest's last words on stderr (a Go panic and
// its goroutines, a C guest's message before exit), run has shown those
// already, tagged with the gateway, so only the first line is repeated.
func guestErrorText(err error) string {
	msg := err.Error()
	first, _, multi := strings.Cut(msg, "\n")
	if multi && (strings.Contains(first, "guest exited with status ") || strings.Contains(first, "panic: ")) {
		return first + " (the guest's stderr above has the rest)"
	}
	return msg
}
