package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmnet/wasmnet/internal/testwasm"
)

func TestInventory(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "fleet")
	os.WriteFile(inv, []byte("# build hosts\n\n  2*popen//id=x  \nssh=build@10.0.0.7\n\t# spare\nexec=docker exec -i c1 wasmnet agent\n"), 0o644)
	f := fleetFlags{specs: []string{"popen", "@" + inv}}
	got, err := f.list()
	want := []string{"popen", "2*popen//id=x", "ssh=build@10.0.0.7", "exec=docker exec -i c1 wasmnet agent"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	for name, text := range map[string]string{
		"empty":     "# nothing\n\n",
		"nested":    "popen\n@other\n",
		"countonly": "3*\n",
		"longline":  strings.Repeat("x", 100<<10) + "\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		if _, err := (&fleetFlags{specs: []string{"@" + p}}).list(); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v; want an error naming the file", name, err)
		}
	}
	if _, err := (&fleetFlags{specs: []string{"@" + filepath.Join(dir, "missing")}}).list(); err == nil {
		t.Error("a missing inventory was accepted")
	}
}

// TestInventoryComments reads the README's inventory: a comment after a
// spec is not part of it, and a # inside a spec is.
func TestInventoryComments(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "fleet.txt")
	text := "# fleet.txt\n4*ssh=build1                      # an alias from ~/.ssh/config\n" +
		"4*ssh=ci@10.0.0.8//chdir=/srv/w\t# tab\n\n   \npopen//env:TAG=a#b # tagged\n"
	os.WriteFile(inv, []byte(text), 0o644)
	got, err := (&fleetFlags{specs: []string{"@" + inv}}).list()
	want := []string{"4*ssh=build1", "4*ssh=ci@10.0.0.8//chdir=/srv/w", "popen//env:TAG=a#b"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

// TestRunInventory runs the main job on gateways named in an inventory.
func TestRunInventory(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "fleet")
	os.WriteFile(inv, []byte("# two local agents\n2*popen\n\npopen//id=last\n"), 0o644)
	out, stderr, code := wasmnet(t, "run", "-g", "@"+inv, "--take", "1", "--send", "[1, 100]", testwasm.Go(t, "primes"))
	if code != 0 || strings.Count(out, ": 25\n") != 3 || !strings.Contains(out, "last: 25") {
		t.Fatalf("exit status %d, stdout %q\n%s", code, out, stderr)
	}
}
