package gateway

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec string
		want Spec
	}{
		{"popen", Spec{Type: "popen"}},
		{"popen//id=w1//env:LANG=C//env:X=a=b", Spec{Type: "popen", ID: "w1", Env: []string{"LANG=C", "X=a=b"}}},
		{"ssh=build@10.0.0.7:22//chdir=/tmp/w//insecure_ignore_host_key",
			Spec{Type: "ssh", Value: "build@10.0.0.7:22", Chdir: "/tmp/w", Options: map[string]string{"insecure_ignore_host_key": ""}}},
		{"exec=qemu-aarch64-static dist/wasmnet-linux-arm64 agent//id=arm",
			Spec{Type: "exec", Value: "qemu-aarch64-static dist/wasmnet-linux-arm64 agent", ID: "arm"}},
		{"socket=h:7300//via=gw0", Spec{Type: "socket", Value: "h:7300", Via: "gw0"}},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.spec)
		if err != nil {
			t.Errorf("%s: %v", tt.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.spec, got, tt.want)
		}
		again, err := ParseSpec(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("%s: String() %q does not parse back: %+v, %v", tt.spec, got.String(), again, err)
		}
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		{"", "missing gateway type"},
		{"//id=x", "missing gateway type"},
		{"teleport=x", `unknown gateway type "teleport"`},
		{"popen//colour=blue", `unknown option "colour"`},
		{"popen//identity=k", `unknown option "identity" for popen`},
		{"popen//id=a//id=b", `option "id" given twice`},
		{"ssh", "ssh needs a value"},
		{"popen=x", "popen takes no value"},
		{"popen//env:X", "env:NAME=VALUE"},
		{"popen//id=", "id needs a value"},
		{"popen//id=a\x1b]0;pwned\x07", "control character"},
		{"popen//id=a\u202eb", "control character"},
		{"popen//id=a\xffb", "not valid UTF-8"},
	}
	for _, tt := range tests {
		_, err := ParseSpec(tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want an error containing %q", tt.spec, err, tt.want)
		}
	}
}

// TestParseSpecSuggests checks that a misspelt type or option is answered
// with the name meant and the list of valid ones, inproc among the types,
// and that every parse error is a *SpecError naming the spec.
func TestParseSpecSuggests(t *testing.T) {
	tests := []struct {
		spec string
		want []string
	}{
		{"popn", []string{`did you mean "popen"?`, "inproc", "socket=HOST[:PORT]"}},
		{"teleport=x", []string{"popen, ssh=[USER@]HOST[:PORT], socket=HOST[:PORT], exec=COMMAND, inproc"}},
		{"popen//agnt=/bin/wasmnet", []string{`did you mean "agent"?`, "options: id, chdir, via, agent, nice, resident, share, env:NAME"}},
		{"ssh=h//known_host=f", []string{`did you mean "known_hosts"?`, "insecure_ignore_host_key"}},
	}
	for _, tt := range tests {
		_, err := ParseSpec(tt.spec)
		var se *SpecError
		if !errors.As(err, &se) || se.Spec != tt.spec {
			t.Errorf("%q: got %v, want a *SpecError for it", tt.spec, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: got %v, want it to contain %q", tt.spec, err, w)
			}
		}
	}
	if _, err := ParseSpec("popen//colour=blue"); strings.Contains(err.Error(), "did you mean") {
		t.Errorf("colour: got %v, want no suggestion for a word unlike every option", err)
	}
}

func TestExpandSpecs(t *testing.T) {
	got, err := ExpandSpecs("3*popen", "ssh=h", "2*exec=a*b")
	want := []string{"popen", "popen", "popen", "ssh=h", "exec=a*b", "exec=a*b"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := ExpandSpecs("0*popen"); err == nil {
		t.Fatal("0*popen: no error")
	}
}

func TestExpandSpecsLimit(t *testing.T) {
	if _, err := ExpandSpecs("100000*popen"); err == nil || !strings.Contains(err.Error(), "more than 1024") {
		t.Fatalf("100000*popen: %v; want an error naming the limit", err)
	}
	if _, err := ExpandSpecs("1000*popen", "20*popen", "5*popen"); err == nil {
		t.Fatal("1025 specs in all were accepted")
	}
	if got, err := ExpandSpecs("1000*popen", "popen", "23*popen"); err != nil || len(got) != 1024 {
		t.Fatalf("1024 specs: %d, %v", len(got), err)
	}
	g := NewGroup(WithMaxGateways(2))
	var tooMany *TooManyGatewaysError
	if _, err := g.MakeGateways(context.Background(), "3*popen"); !errors.As(err, &tooMany) || tooMany.Limit != 2 {
		t.Fatalf("3 gateways in a group of at most 2: %v", err)
	}
}

// TestStartErrorSaysGatewayOnce: a failed start names the spec and the
// gateway once, without the prefixes of each layer repeated.
func TestStartErrorSaysGatewayOnce(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := refused.Addr().String()
	refused.Close()
	for _, spec := range []string{`exec=sh -c "echo oops >&2; exit 1"`, "socket=" + addr + "//insecure_plain"} {
		g := NewGroup()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := g.MakeGateways(ctx, spec)
		cancel()
		g.Terminate(5 * time.Second)
		if err == nil {
			t.Fatalf("%s: started", spec)
		}
		if msg := err.Error(); strings.Count(msg, "gateway") != 1 || strings.Count(msg, "gw0") != 1 {
			t.Errorf("%s: %q names the gateway more than once", spec, msg)
		}
	}
}
