package tests

// The shared msgpack test vectors (testdata/vectors.json, described in
// testdata/README.md) checked against every codec of the project that is not
// Go's agent codec: the C guest SDK (guest/c), the Rust guest SDK
// (guest/rust), both compiled natively, and the msgpack library the Go side
// uses (github.com/vmihailenco/msgpack/v5).
//
// The C and Rust harnesses (guest/c/vectors_test.c, guest/rust/vectors_test.rs)
// read one vector per line, name TAB hex TAB tokens, where tokens is the value
// written as a pre-order list separated by spaces:
//
//	n  t  f                nil, true, false
//	i:<dec>  u:<dec>       an integer, written with the SDK's signed / unsigned writer
//	f32:<hex>  f64:<hex>   a float, as its IEEE 754 bits
//	s:<hex>  b:<hex>       a str / bin, as the hex of its bytes
//	a:<n>  m:<n>           an array of n values / a map of n key-value pairs; they follow
//	c:<dec>                a channel handle (ext 1)
//	x:<type>:<hex>         any other ext
//	ERR                    (alone) the bytes must not decode
//
// and print one line per vector, name TAB reencoded TAB encoded TAB decoded:
// the hex of decoding the bytes and encoding the result again, the hex of
// encoding the tokens, and the decoded value as tokens (integers as i: when
// negative and u: otherwise). A vector whose bytes do not decode gives
// name TAB ERR TAB - TAB -.

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// vector is one entry of testdata/vectors.json.
type vector struct {
	Name      string          `json:"name"`
	Value     json.RawMessage `json:"value,omitempty"`
	Hex       string          `json:"hex"`
	Canonical string          `json:"canonical,omitempty"` // when hex is a non-canonical form: the canonical bytes
	Error     string          `json:"error,omitempty"`     // when hex must not decode: why
}

// node is a decoded tagged-JSON value.
type node struct {
	kind  string // n t f i u f32 f64 s b a m c x
	i     int64
	u     uint64
	bits  uint64 // f32, f64
	data  []byte // s, b, x
	ext   int8   // x
	kids  []node // a: elements; m: k0 v0 k1 v1 ...
	chanH uint32
}

type loaded struct {
	vector
	bytes     []byte // the hex, expanded
	canonical []byte // the canonical bytes (== bytes unless Canonical is set)
	value     node
}

var runRE = regexp.MustCompile(`\(([0-9a-fA-F]*)\)\*([0-9]+)`)

// expandHex decodes hex with the repeat notation (hh..)*n.
func expandHex(s string) ([]byte, error) {
	var err error
	s = runRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := runRE.FindStringSubmatch(m)
		n, e := strconv.Atoi(sub[2])
		if e != nil && err == nil {
			err = e
		}
		return strings.Repeat(sub[1], n)
	})
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(strings.ReplaceAll(s, " ", ""))
}

func loadVectors(t testing.TB) []loaded {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatalf("testdata/vectors.json: %v", err)
	}
	seen := map[string]bool{}
	var out []loaded
	for _, v := range vs {
		if v.Name == "" || strings.ContainsAny(v.Name, "\t\n") || seen[v.Name] {
			t.Fatalf("vector %q: empty, duplicate or with a tab or newline in its name", v.Name)
		}
		seen[v.Name] = true
		l := loaded{vector: v}
		if l.bytes, err = expandHex(v.Hex); err != nil {
			t.Fatalf("vector %s: hex: %v", v.Name, err)
		}
		l.canonical = l.bytes
		if v.Canonical != "" {
			if l.canonical, err = expandHex(v.Canonical); err != nil {
				t.Fatalf("vector %s: canonical: %v", v.Name, err)
			}
		}
		if v.Error == "" {
			dec := json.NewDecoder(bytes.NewReader(v.Value))
			dec.UseNumber()
			var j any
			if err := dec.Decode(&j); err != nil {
				t.Fatalf("vector %s: value: %v", v.Name, err)
			}
			if l.value, err = parseValue(j); err != nil {
				t.Fatalf("vector %s: value: %v", v.Name, err)
			}
		}
		out = append(out, l)
	}
	return out
}

// parseValue turns the tagged JSON of testdata/README.md into a node.
func parseValue(j any) (node, error) {
	switch v := j.(type) {
	case nil:
		return node{kind: "n"}, nil
	case bool:
		if v {
			return node{kind: "t"}, nil
		}
		return node{kind: "f"}, nil
	case json.Number:
		i, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return node{}, fmt.Errorf("plain number %s: only integers in int64 range (use $f64, $uint)", v)
		}
		return node{kind: "i", i: i}, nil
	case string:
		return node{kind: "s", data: []byte(v)}, nil
	case []any:
		n := node{kind: "a"}
		for _, e := range v {
			k, err := parseValue(e)
			if err != nil {
				return node{}, err
			}
			n.kids = append(n.kids, k)
		}
		return n, nil
	case map[string]any:
		return parseTagged(v)
	}
	return node{}, fmt.Errorf("unexpected JSON %T", j)
}

func repeatCount(o map[string]any) (int, error) {
	r, ok := o["n"]
	if !ok {
		return 1, nil
	}
	num, ok := r.(json.Number)
	if !ok {
		return 0, fmt.Errorf("n must be a number")
	}
	n, err := strconv.Atoi(string(num))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad n %v", r)
	}
	return n, nil
}

func parseTagged(o map[string]any) (node, error) {
	str := func(key string) (string, error) {
		s, ok := o[key].(string)
		if !ok {
			return "", fmt.Errorf("%s wants a string", key)
		}
		return s, nil
	}
	num := func(key string) (json.Number, error) {
		n, ok := o[key].(json.Number)
		if !ok {
			return "", fmt.Errorf("%s wants a number", key)
		}
		return n, nil
	}
	floatOf := func(key string, size int) (float64, error) {
		switch x := o[key].(type) {
		case json.Number:
			return strconv.ParseFloat(string(x), size)
		case string:
			switch x {
			case "+Inf":
				return math.Inf(1), nil
			case "-Inf":
				return math.Inf(-1), nil
			case "-0":
				return math.Copysign(0, -1), nil
			}
		}
		return 0, fmt.Errorf("%s wants a number, \"+Inf\", \"-Inf\" or \"-0\"", key)
	}
	switch {
	case o["$int"] != nil:
		s, err := str("$int")
		if err != nil {
			return node{}, err
		}
		i, err := strconv.ParseInt(s, 10, 64)
		return node{kind: "i", i: i}, err
	case o["$uint"] != nil:
		s, err := str("$uint")
		if err != nil {
			return node{}, err
		}
		u, err := strconv.ParseUint(s, 10, 64)
		return node{kind: "u", u: u}, err
	case o["$f32"] != nil:
		f, err := floatOf("$f32", 32)
		return node{kind: "f32", bits: uint64(math.Float32bits(float32(f)))}, err
	case o["$f64"] != nil:
		f, err := floatOf("$f64", 64)
		return node{kind: "f64", bits: math.Float64bits(f)}, err
	case o["$f32bits"] != nil, o["$f64bits"] != nil:
		kind, key, size := "f32", "$f32bits", 32
		if o["$f64bits"] != nil {
			kind, key, size = "f64", "$f64bits", 64
		}
		s, err := str(key)
		if err != nil {
			return node{}, err
		}
		b, err := strconv.ParseUint(s, 16, size)
		return node{kind: kind, bits: b}, err
	case o["$str"] != nil:
		s, err := str("$str")
		if err != nil {
			return node{}, err
		}
		n, err := repeatCount(o)
		return node{kind: "s", data: []byte(strings.Repeat(s, n))}, err
	case o["$strbytes"] != nil:
		s, err := str("$strbytes")
		if err != nil {
			return node{}, err
		}
		b, err := hex.DecodeString(s)
		return node{kind: "s", data: b}, err
	case o["$bin"] != nil:
		s, err := str("$bin")
		if err != nil {
			return node{}, err
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return node{}, err
		}
		n, err := repeatCount(o)
		return node{kind: "b", data: bytes.Repeat(b, n)}, err
	case o["$chan"] != nil:
		n, err := num("$chan")
		if err != nil {
			return node{}, err
		}
		h, err := strconv.ParseUint(string(n), 10, 32)
		return node{kind: "c", chanH: uint32(h)}, err
	case o["$ext"] != nil:
		n, err := num("$ext")
		if err != nil {
			return node{}, err
		}
		typ, err := strconv.ParseInt(string(n), 10, 8)
		if err != nil {
			return node{}, err
		}
		s, err := str("data")
		if err != nil {
			return node{}, err
		}
		b, err := hex.DecodeString(s)
		return node{kind: "x", ext: int8(typ), data: b}, err
	case o["$array"] != nil:
		elems, ok := o["$array"].([]any)
		if !ok {
			return node{}, fmt.Errorf("$array wants an array")
		}
		n, err := repeatCount(o)
		if err != nil {
			return node{}, err
		}
		a := node{kind: "a"}
		for range n {
			for _, e := range elems {
				k, err := parseValue(e)
				if err != nil {
					return node{}, err
				}
				a.kids = append(a.kids, k)
			}
		}
		return a, nil
	case o["$map"] != nil:
		pairs, ok := o["$map"].([]any)
		if !ok {
			return node{}, fmt.Errorf("$map wants an array of [key, value] pairs")
		}
		m := node{kind: "m"}
		for _, p := range pairs {
			kv, ok := p.([]any)
			if !ok || len(kv) != 2 {
				return node{}, fmt.Errorf("$map: %v is not a [key, value] pair", p)
			}
			for _, e := range kv {
				k, err := parseValue(e)
				if err != nil {
					return node{}, err
				}
				m.kids = append(m.kids, k)
			}
		}
		return m, nil
	}
	return node{}, fmt.Errorf("object without a known $tag: %v", o)
}

// tokens writes the node in the harness line format.
func (n node) tokens(out []string, normalize bool) []string {
	switch n.kind {
	case "n", "t", "f":
		return append(out, n.kind)
	case "i":
		if normalize && n.i >= 0 {
			return append(out, "u:"+strconv.FormatUint(uint64(n.i), 10))
		}
		return append(out, "i:"+strconv.FormatInt(n.i, 10))
	case "u":
		return append(out, "u:"+strconv.FormatUint(n.u, 10))
	case "f32":
		return append(out, fmt.Sprintf("f32:%08x", n.bits))
	case "f64":
		return append(out, fmt.Sprintf("f64:%016x", n.bits))
	case "s", "b":
		return append(out, n.kind+":"+hex.EncodeToString(n.data))
	case "c":
		return append(out, "c:"+strconv.FormatUint(uint64(n.chanH), 10))
	case "x":
		return append(out, fmt.Sprintf("x:%d:%s", n.ext, hex.EncodeToString(n.data)))
	case "a", "m":
		count := len(n.kids)
		if n.kind == "m" {
			count /= 2
		}
		out = append(out, n.kind+":"+strconv.Itoa(count))
		for _, k := range n.kids {
			out = k.tokens(out, normalize)
		}
		return out
	}
	panic("unknown node kind " + n.kind)
}

// encodeGo encodes the node with the Go msgpack library.
func (n node) encodeGo(e *msgpack.Encoder) error {
	switch n.kind {
	case "n":
		return e.EncodeNil()
	case "t", "f":
		return e.EncodeBool(n.kind == "t")
	case "i":
		return e.EncodeInt(n.i)
	case "u":
		return e.EncodeUint(n.u)
	case "f32":
		return e.EncodeFloat32(math.Float32frombits(uint32(n.bits)))
	case "f64":
		return e.EncodeFloat64(math.Float64frombits(n.bits))
	case "s":
		return e.EncodeString(string(n.data))
	case "b":
		return e.EncodeBytes(append([]byte{}, n.data...)) // never nil: nil encodes as nil
	case "c", "x":
		typ, data := n.ext, n.data
		if n.kind == "c" {
			typ, data = 1, []byte{byte(n.chanH >> 24), byte(n.chanH >> 16), byte(n.chanH >> 8), byte(n.chanH)}
		}
		if err := e.EncodeExtHeader(typ, len(data)); err != nil {
			return err
		}
		_, err := e.Writer().Write(data)
		return err
	case "a", "m":
		var err error
		if n.kind == "a" {
			err = e.EncodeArrayLen(len(n.kids))
		} else {
			err = e.EncodeMapLen(len(n.kids) / 2)
		}
		if err != nil {
			return err
		}
		for _, k := range n.kids {
			if err := k.encodeGo(e); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown node kind %s", n.kind)
}

// goRoundTrip decodes one value with the Go msgpack library and encodes it
// again. Containers and ext values are walked by hand (a Go map would lose
// the order of the pairs; ext 1 has no registered Go type); scalars go
// through DecodeInterface and Encode with compact integers, as the agent's
// codec does.
func goRoundTrip(d *msgpack.Decoder, e *msgpack.Encoder, depth int) error {
	if depth > 512 {
		return fmt.Errorf("nested too deeply")
	}
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	switch {
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.DecodeMapLen()
		if err != nil {
			return err
		}
		if err := e.EncodeMapLen(n); err != nil {
			return err
		}
		for range 2 * n {
			if err := goRoundTrip(d, e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return err
		}
		if err := e.EncodeArrayLen(n); err != nil {
			return err
		}
		for range n {
			if err := goRoundTrip(d, e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case msgpcode.IsExt(c):
		typ, n, err := d.DecodeExtHeader()
		if err != nil {
			return err
		}
		data := make([]byte, n)
		if err := d.ReadFull(data); err != nil {
			return err
		}
		if err := e.EncodeExtHeader(typ, n); err != nil {
			return err
		}
		_, err = e.Writer().Write(data)
		return err
	}
	v, err := d.DecodeInterface()
	if err != nil {
		return err
	}
	return e.Encode(v)
}

func TestVectorsGoLibrary(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.Error != "" {
			continue // the library is lenient about some of them (ext 1 sizes); the SDKs are checked below
		}
		t.Run(v.Name, func(t *testing.T) {
			var buf bytes.Buffer
			e := msgpack.NewEncoder(&buf)
			e.UseCompactInts(true)
			if err := v.value.encodeGo(e); err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(buf.Bytes(), v.canonical) {
				t.Errorf("encode(value) = %x, want %x", buf.Bytes(), v.canonical)
			}
			buf.Reset()
			r := bytes.NewReader(v.bytes)
			d := msgpack.NewDecoder(r)
			if err := goRoundTrip(d, e, 0); err != nil {
				t.Fatalf("round trip: %v", err)
			}
			if rest, _ := io.ReadAll(d.Buffered()); len(rest) != 0 {
				t.Errorf("%d bytes left after the value", len(rest))
			}
			if !bytes.Equal(buf.Bytes(), v.canonical) {
				t.Errorf("encode(decode(hex)) = %x, want %x", buf.Bytes(), v.canonical)
			}
		})
	}
}

// writeLines writes the vectors in the harness line format.
func writeLines(t *testing.T, vs []loaded) string {
	var b strings.Builder
	for _, v := range vs {
		toks := "ERR"
		if v.Error == "" {
			toks = strings.Join(v.value.tokens(nil, false), " ")
		}
		fmt.Fprintf(&b, "%s\t%x\t%s\n", v.Name, v.bytes, toks)
	}
	path := filepath.Join(t.TempDir(), "vectors.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkHarness runs a harness binary on the vectors and compares its answers.
func checkHarness(t *testing.T, bin string, vs []loaded) {
	in := writeLines(t, vs)
	cmd := exec.Command(bin, in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, stderr.Bytes())
	}
	got := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 4 {
			t.Fatalf("bad harness line %q", sc.Text())
		}
		got[f[0]] = f[1:]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	short := func(s string) string {
		if len(s) > 200 {
			return s[:200] + fmt.Sprintf("...(%d chars)", len(s))
		}
		return s
	}
	for _, v := range vs {
		g, ok := got[v.Name]
		if !ok {
			t.Errorf("%s: no answer from the harness", v.Name)
			continue
		}
		if v.Error != "" {
			if g[0] != "ERR" {
				t.Errorf("%s: decoded %s, want a decode error (%s)", v.Name, short(g[0]), v.Error)
			}
			continue
		}
		want := hex.EncodeToString(v.canonical)
		if g[0] != want {
			t.Errorf("%s: encode(decode(hex)) = %s, want %s", v.Name, short(g[0]), short(want))
		}
		if g[1] != want {
			t.Errorf("%s: encode(value) = %s, want %s", v.Name, short(g[1]), short(want))
		}
		if wt := strings.Join(v.value.tokens(nil, true), " "); g[2] != wt {
			t.Errorf("%s: decode(hex) = %s, want %s", v.Name, short(g[2]), short(wt))
		}
	}
}

// needTool fails the test when a tool is missing, naming the package.
func needTool(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: the codec vector tests need it (on Debian: apt-get install %s)", tool, pkg)
	}
	return p
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func TestVectorsC(t *testing.T) {
	gcc := needTool(t, "gcc", "gcc")
	vs := loadVectors(t)
	bin := filepath.Join(t.TempDir(), "vectors_c")
	sdk := filepath.Join("..", "guest", "c")
	run(t, gcc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-DWASMNET_CODEC_ONLY", "-I", sdk,
		filepath.Join(sdk, "vectors_test.c"), filepath.Join(sdk, "wasmnet.c"), "-o", bin)
	checkHarness(t, bin, vs)
}

func TestVectorsRust(t *testing.T) {
	rustc := "/usr/bin/rustc" // Debian's, as for the guests; not a rustup proxy
	if _, err := os.Stat(rustc); err != nil {
		t.Fatalf("%s not found: the codec vector tests need Debian's rustc (apt-get install rustc)", rustc)
	}
	vs := loadVectors(t)
	bin := filepath.Join(t.TempDir(), "vectors_rust")
	run(t, rustc, "--edition", "2021", "-O", "-D", "warnings",
		filepath.Join("..", "guest", "rust", "vectors_test.rs"), "-o", bin)
	checkHarness(t, bin, vs)
}
