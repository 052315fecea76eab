// Command sandbox is a wasmnet guest that reports what the sandbox lets it
// see: it sends one map with its environment, arguments, the root directory,
// an attempt to read /etc/passwd, and its working directory.
package main

import (
	"os"

	"github.com/wasmnet/wasmnet/guest"
)

func main() {
	report := map[string]any{
		"env":     os.Environ(),
		"args":    os.Args,
		"files":   rootFiles(),
		"readetc": readEtc(),
		"cwd":     cwd(),
	}
	if err := guest.Channel().Send(report); err != nil {
		panic(err)
	}
}

// rootFiles returns the names in / ([]string), or the error text (string).
func rootFiles() any {
	entries, err := os.ReadDir("/")
	if err != nil {
		return err.Error()
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// readEtc returns the error of reading /etc/passwd, or "" if it succeeded.
func readEtc() string {
	if _, err := os.ReadFile("/etc/passwd"); err != nil {
		return err.Error()
	}
	return ""
}

// cwd returns the working directory, or the error text.
func cwd() string {
	d, err := os.Getwd()
	if err != nil {
		return err.Error()
	}
	return d
}
