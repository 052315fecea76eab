// Command fsattack is a wasmnet guest that does to its granted directories
// whatever the client tells it, so that tests can attack a grant from the
// inside. Each message on the main channel is a map
// {"op": name, "a": path, "b": path, "data": bytes}; the guest answers each
// with {"err": text or "", "data": what was read}. nil or the channel's end
// stops it. "openmany" opens a again and again, holding every file, until
// an open fails, and answers how many it held.
package main

import (
	"errors"
	"io"
	"os"
	"time"

	"github.com/wasmnet/wasmnet/guest"
)

type request struct {
	Op   string `msgpack:"op"`
	A    string `msgpack:"a"`
	B    string `msgpack:"b"`
	Data []byte `msgpack:"data"`
}

func main() {
	ch := guest.Channel()
	for {
		var req *request
		err := ch.ReceiveInto(&req)
		var remote *guest.RemoteError
		if errors.Is(err, io.EOF) || errors.As(err, &remote) || (err == nil && req == nil) {
			return
		}
		if err != nil {
			panic(err)
		}
		data, err := do(req)
		reply := map[string]any{"err": "", "data": data}
		if err != nil {
			reply["err"] = err.Error()
		}
		if err := ch.Send(reply); err != nil {
			panic(err)
		}
	}
}

func do(r *request) (any, error) {
	switch r.Op {
	case "openmany":
		return openMany(r.A)
	case "read":
		return os.ReadFile(r.A)
	case "write":
		return nil, os.WriteFile(r.A, r.Data, 0o644)
	case "append":
		f, err := os.OpenFile(r.A, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		_, err = f.Write(r.Data)
		return nil, err
	case "truncate":
		return nil, os.Truncate(r.A, 0)
	case "readdir":
		entries, err := os.ReadDir(r.A)
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name()
		}
		return names, err
	case "stat":
		fi, err := os.Stat(r.A)
		if err != nil {
			return nil, err
		}
		return fi.Size(), nil
	case "lstat":
		fi, err := os.Lstat(r.A)
		if err != nil {
			return nil, err
		}
		return fi.Mode().String(), nil
	case "readlink":
		return os.Readlink(r.A)
	case "symlink":
		return nil, os.Symlink(r.A, r.B)
	case "link":
		return nil, os.Link(r.A, r.B)
	case "rename":
		return nil, os.Rename(r.A, r.B)
	case "mkdir":
		return nil, os.Mkdir(r.A, 0o755)
	case "rmdir", "unlink":
		return nil, os.Remove(r.A)
	case "chtimes":
		t := time.Unix(1e9, 0)
		return nil, os.Chtimes(r.A, t, t)
	case "rawread":
		return rawRead(r.A)
	}
	return nil, errors.New("fsattack: unknown op " + r.Op)
}

// openMany opens path until an open fails, then closes what it opened and
// returns how many it held with the failure.
func openMany(path string) (int, error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for len(files) < 1<<20 {
		f, err := os.Open(path)
		if err != nil {
			return len(files), err
		}
		files = append(files, f)
	}
	return len(files), nil
}
