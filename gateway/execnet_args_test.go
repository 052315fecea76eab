package gateway

import (
	"math/big"
	"reflect"
	"strings"
	"testing"
)

// A source program receives typed keyword arguments, predeclared under
// their names as Starlark values, as execnet's remote_exec(func, data=1)
// passes them to func.
//
// execnet: testing/test_basics.py::test_remote_exec_function_with_kwargs
func TestSourceTypedArguments(t *testing.T) {
	g := popen(t, "popen")
	huge := new(big.Int).Lsh(big.NewInt(1), 90)
	m := starlarkInterp(t).WithSource("prog.star", `
channel.send(data)
channel.send([type(data), type(names), type(opts), opts["ratio"] * 2, names[1], huge == 1 << 90, argv])
`).With(map[string]any{"data": 1, "names": []any{"a", "b"}, "opts": map[string]any{"ratio": 1.25}, "huge": huge})
	ch, err := g.RemoteExec(testCtx(t), m, WithArgs("plain"))
	if err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch); got != int64(1) {
		t.Fatalf("data: got %#v, want 1", got)
	}
	want := []any{"int", "list", "dict", 2.5, "b", true, []any{"plain"}}
	if got := receive(t, ch); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	if err := ch.WaitClose(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// Arguments whose names a program could not use, or values that cannot be
// arguments, fail RemoteExec with the reason, before anything runs.
//
// execnet: testing/test_basics.py::test_remote_exc__no_kwargs
func TestSourceTypedArgumentsRefused(t *testing.T) {
	g := popen(t, "popen")
	other, err := g.NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, tt := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"channel": 1}, "predeclares"},
		{map[string]any{"not a name": 1}, "identifier"},
		{map[string]any{"def": 1}, "identifier"},
		{map[string]any{"c": other}, "channel"},
	} {
		_, err := g.RemoteExec(testCtx(t), Source("pass").With(tt.args))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("With(%v): got %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

// A compiled Go guest reads its typed arguments with guest.Args.
//
// execnet: testing/test_basics.py::test_remote_exec_function_with_kwargs
func TestGoGuestTypedArguments(t *testing.T) {
	g := popen(t, "popen")
	m := module(t, "kwargs")
	args := map[string]any{"data": int64(1), "names": []any{"a"}, "big": new(big.Int).Lsh(big.NewInt(1), 70)}
	ch, err := g.RemoteExec(testCtx(t), m.With(args))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := receive(t, ch).(map[string]any)
	if !ok || got["data"] != int64(1) || !reflect.DeepEqual(got["names"], []any{"a"}) || got["big"].(*big.Int).Cmp(args["big"].(*big.Int)) != 0 {
		t.Fatalf("got %#v, want %#v", got, args)
	}
	ch, err = g.RemoteExec(testCtx(t), m)
	if err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch); !reflect.DeepEqual(got, map[string]any{}) {
		t.Fatalf("without With: got %#v, want an empty map", got)
	}
}
