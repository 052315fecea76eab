package gateway

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wasmnet/wasmnet/internal/suggest"
)

// Spec is a parsed gateway specification, the string form of which is
// type[=value]//key[=value]//... as in execnet: "popen", "popen//id=w1",
// "ssh=build@10.0.0.7:22//chdir=/tmp/w//env:LANG=C", "exec=qemu-aarch64-static wasmnet agent".
//
// The types:
//
//   - popen: a local `wasmnet agent` (agent=PATH). The popen gateways of a
//     group share agent processes (WithSharedAgents: one per CPU, at least
//     two), each gateway on a connection of its own; share=no, or a
//     chdir=, env: or nice= that only a process of its own can have, gives
//     the gateway its own process, on stdin and stdout (shared agents
//     need Linux; elsewhere every gateway has its own). With resident (or
//     resident=yes, or an idle time such as resident=30m, as OpenSSH's
//     ControlPersist), the gateway is served by the user's resident agent
//     of that build instead, over a private unix socket, started if none
//     runs and exiting after it idled that long (10m by default);
//     resident=no asks for a process even under WithResident. A spec
//     gives resident= or share=, not both.
//   - ssh=[USER@]HOST[:PORT]: the agent on a host reached by SSH, uploaded
//     there first when the host lacks that build (identity=, known_hosts=,
//     insecure_ignore_host_key, agent=, connect_timeout=). With resident
//     (as for popen), the gateway is served by the user's resident agent on
//     that host, reached through a direct-streamlocal@openssh.com channel of
//     the pooled connection, or, where the server forbids that, through a
//     bridge process (`wasmnet agent --connect-resident`).
//   - socket=HOST[:PORT]: one agent of a `wasmnet serve` server (identity=,
//     known_hosts=, insecure_ignore_host_key, insecure_plain,
//     connect_timeout=).
//   - exec=COMMAND: any command that runs an agent on its stdio, such as
//     "qemu-aarch64-static wasmnet agent".
//   - inproc: an agent on goroutines of this process, joined by a pipe, for
//     tests and examples. It is not built in, so that clients need not link
//     the agent: gateway/inproc adds it (inproc.Transport), and so does
//     the wasmnet command. WithTransport adds types of one's own the same way.
//
// Every built-in type takes id=, chdir=DIR (the agent's working directory,
// created if missing), env:NAME=VALUE and via=ID (reach the agent through
// the agent of gateway ID of the same group, as ssh -J); inproc takes id=.
// popen and ssh= take nice=N (0 to 19: the agent lowers its priority by N,
// as execnet's nice= does); ssh= takes ssh_config=FILE (read instead of
// ~/.ssh/config); socket//installvia=ID starts a `wasmnet serve` through
// gateway ID and connects to it. Keys that start with ToolKeyPrefix ("x-")
// are kept in Options for tools built on wasmnet and otherwise ignored;
// any other unknown key is an error (RATIONALE.md, "Why are unknown spec
// keys refused, but x- keys kept?").
type Spec struct {
	Type  string // popen, ssh, socket, exec, or a type given to WithTransport
	Value string // what follows "type=": the host for ssh and socket, the command for exec
	ID    string // the gateway id; empty means one is chosen (gw0, gw1, ...)
	Chdir string // the agent's working directory, created if missing
	Via   string // the id of a gateway to hop through
	Env   []string
	// Options holds the remaining type-specific keys (identity, known_hosts,
	// insecure_ignore_host_key, agent, nice, ...) and the tools' x- keys. A
	// key given without "=" maps to "".
	Options map[string]string
}

// keysByType lists the option keys each gateway type accepts beyond the
// common ones (id, chdir, via, env:NAME).
var keysByType = map[string][]string{
	"popen":  {"agent", "nice", "resident", "share"},
	"ssh":    {"identity", "known_hosts", "insecure_ignore_host_key", "agent", "connect_timeout", "ssh_config", "nice", "resident"},
	"socket": {"identity", "known_hosts", "insecure_ignore_host_key", "insecure_plain", "connect_timeout", "installvia"},
	"exec":   {},
}

// ParseSpec parses a gateway specification. An unknown type or key, a
// repeated key or a missing type is an error that names it. The types are
// the built-in ones; Make and Group also know those given to WithTransport.
func ParseSpec(s string) (Spec, error) { return parseSpec(s, nil) }

// SpecError reports a spec that cannot be parsed: an unknown type or
// option, a missing or extra value, a repeated option.
type SpecError struct {
	Spec string // the spec as given
	Err  error  // what is wrong with it
}

func (e *SpecError) Error() string { return fmt.Sprintf("gateway: spec %q: %v", e.Spec, e.Err) }

func (e *SpecError) Unwrap() error { return e.Err }

// parseSpec is ParseSpec that also knows the types of transports, which
// take the common keys only and a value only if their dialer does.
func parseSpec(s string, transports map[string]DialFunc) (Spec, error) {
	sp, err := parseSpecParts(s, transports)
	if err != nil {
		return Spec{}, &SpecError{Spec: s, Err: err}
	}
	return sp, nil
}

func parseSpecParts(s string, transports map[string]DialFunc) (Spec, error) {
	parts := strings.Split(s, "//")
	head := parts[0]
	if head == "" {
		return Spec{}, fmt.Errorf("missing gateway type (%s)", typeList(transports))
	}
	var sp Spec
	sp.Type, sp.Value, _ = strings.Cut(head, "=")
	allowed, builtIn := keysByType[sp.Type]
	_, added := transports[sp.Type]
	switch {
	case builtIn && added:
		return Spec{}, fmt.Errorf("WithTransport cannot replace the built-in type %q", sp.Type)
	case !builtIn && !added && sp.Type == "inproc":
		return Spec{}, errors.New("inproc gateways need gateway/inproc: pass inproc.Transport() to Make or WithGatewayOptions")
	case !builtIn && !added:
		return Spec{}, fmt.Errorf("unknown gateway type %q%s (types: %s)", sp.Type,
			suggest.DidYouMean(sp.Type, typeNames(transports)), typeList(transports))
	}
	seen := map[string]bool{}
	for _, part := range parts[1:] {
		key, val, hasVal := strings.Cut(part, "=")
		if key == "" {
			return Spec{}, errors.New("empty option (two // in a row, or // at the end)")
		}
		if seen[key] {
			return Spec{}, fmt.Errorf("option %q given twice", key)
		}
		seen[key] = true
		if err := sp.setOption(key, val, hasVal, allowed); err != nil {
			return Spec{}, err
		}
	}
	if builtIn {
		if err := sp.checkValue(); err != nil {
			return Spec{}, err
		}
		if err := sp.checkOptions(); err != nil {
			return Spec{}, err
		}
	}
	if v, ok := sp.Options["resident"]; ok {
		if _, _, err := parseResident(v); err != nil {
			return Spec{}, fmt.Errorf("gateway: spec %q: %w", s, err)
		}
	}
	if v, ok := sp.Options["share"]; ok {
		if _, err := parseShare(v); err != nil {
			return Spec{}, fmt.Errorf("gateway: spec %q: %w", s, err)
		}
	}
	return sp, nil
}

// commonKeys are the option keys every built-in type takes, beside env:NAME.
var commonKeys = []string{"id", "chdir", "via"}

// typeNames lists the built-in types, then inproc (which gateway/inproc
// adds), then the types of transports, sorted.
func typeNames(transports map[string]DialFunc) []string {
	names := []string{"popen", "ssh", "socket", "exec", "inproc"}
	var added []string
	for t := range transports {
		if !contains(names, t) {
			added = append(added, t)
		}
	}
	sort.Strings(added)
	return append(names, added...)
}

// typeList is how an error shows the types a spec can have.
func typeList(transports map[string]DialFunc) string {
	forms := map[string]string{"ssh": "ssh=[USER@]HOST[:PORT]", "socket": "socket=HOST[:PORT]", "exec": "exec=COMMAND"}
	names := typeNames(transports)
	for i, n := range names {
		if f, ok := forms[n]; ok {
			names[i] = f
		}
	}
	return strings.Join(names, ", ")
}

func (sp *Spec) checkValue() error {
	switch sp.Type {
	case "popen":
		if sp.Value != "" {
			return fmt.Errorf("%s takes no value", sp.Type)
		}
	case "socket":
		_, install := sp.Options["installvia"]
		switch {
		case install && sp.Value != "":
			return errors.New("socket with installvia= takes no address: the server it starts chooses one")
		case !install && sp.Value == "":
			return errors.New("socket needs an address (socket=HOST:PORT) or installvia=ID")
		}
	default:
		if sp.Value == "" {
			return fmt.Errorf("%s needs a value (%s=...)", sp.Type, sp.Type)
		}
	}
	return nil
}

func (sp *Spec) setOption(key, val string, hasVal bool, allowed []string) error {
	if name, ok := strings.CutPrefix(key, "env:"); ok {
		if name == "" || !hasVal {
			return fmt.Errorf("option %q: want env:NAME=VALUE", key)
		}
		sp.Env = append(sp.Env, name+"="+val)
		return nil
	}
	switch key {
	case "id":
		if val == "" {
			return fmt.Errorf("option id needs a value")
		}
		if err := checkID(val); err != nil {
			return err
		}
		sp.ID = val
	case "chdir":
		sp.Chdir = val
	case "via":
		if val == "" {
			return fmt.Errorf("option via needs a gateway id")
		}
		sp.Via = val
	default:
		if err := checkToolKey(key, val); !errors.Is(err, errNotToolKey) {
			if err == nil {
				sp.setExtra(key, val)
			}
			return err
		}
		if why, ok := execnetOnlyKeys[key]; ok {
			return fmt.Errorf("option %q: %s", key, why)
		}
		if !contains(allowed, key) {
			valid := append(slices.Clone(commonKeys), allowed...)
			valid = append(valid, "env:NAME")
			return fmt.Errorf("unknown option %q for %s gateways%s (options: %s; a tool's own keys start with %q)", key, sp.Type,
				suggest.DidYouMean(key, valid), strings.Join(valid, ", "), ToolKeyPrefix)
		}
		if sp.Options == nil {
			sp.Options = map[string]string{}
		}
		sp.Options[key] = val
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// String formats the spec back into its string form.
func (sp Spec) String() string {
	var b strings.Builder
	b.WriteString(sp.Type)
	if sp.Value != "" {
		b.WriteString("=" + sp.Value)
	}
	if sp.ID != "" {
		b.WriteString("//id=" + sp.ID)
	}
	if sp.Chdir != "" {
		b.WriteString("//chdir=" + sp.Chdir)
	}
	if sp.Via != "" {
		b.WriteString("//via=" + sp.Via)
	}
	for _, kv := range sp.Env {
		b.WriteString("//env:" + kv)
	}
	keys := make([]string, 0, len(sp.Options))
	for k := range sp.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString("//" + k)
		if v := sp.Options[k]; v != "" {
			b.WriteString("=" + v)
		}
	}
	return b.String()
}

// DefaultMaxGateways is how many gateways one Group may hold unless
// WithMaxGateways says otherwise: "100000*popen" would otherwise start agents
// until the machine runs out of processes or files.
const DefaultMaxGateways = 1024

// ExpandSpecs expands "N*SPEC" entries into N copies of SPEC. More than
// DefaultMaxGateways in all is an error.
func ExpandSpecs(specs ...string) ([]string, error) {
	return expandSpecs(DefaultMaxGateways, specs)
}

// expandSpecs is ExpandSpecs with at most limit specs in all; the count is
// checked before anything is allocated for it.
func expandSpecs(limit int, specs []string) ([]string, error) {
	var out []string
	for _, s := range specs {
		count, rest, found := strings.Cut(s, "*")
		n, err := strconv.Atoi(count)
		if !found || err != nil {
			n, rest = 1, s
		}
		if n < 1 {
			return nil, &SpecError{Spec: s, Err: errors.New("count must be at least 1")}
		}
		if n > limit-len(out) {
			return nil, &TooManyGatewaysError{Spec: s, Limit: limit}
		}
		for range n {
			out = append(out, rest)
		}
	}
	return out, nil
}

// TooManyGatewaysError reports specs that ask for more gateways than a
// group may hold.
type TooManyGatewaysError struct {
	Spec  string // the spec that went over the limit
	Limit int
}

func (e *TooManyGatewaysError) Error() string {
	return fmt.Sprintf("gateway: spec %q: more than %d gateways in one group; raise the limit with WithMaxGateways (wasmnet: --max-gateways)", e.Spec, e.Limit)
}

// checkID refuses an id that is not plain printable text. An id is printed
// on the user's terminal (trace lines, run's summary, its errors) and may
// come from an inventory file others edit, so an escape sequence in it
// would move or retitle that terminal.
func checkID(id string) error {
	if !utf8.ValidString(id) {
		return fmt.Errorf("option id %q is not valid UTF-8", id)
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("option id %q holds a control character", id)
		}
	}
	return nil
}
