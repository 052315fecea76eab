// Command sandbox is a wasmnet guest that reports what the sandbox lets it
// see: it sends one map with its environment, arguments, the root directory,
// an attempt to read /etc/passwd, its working directory, and the settings
// of its garbage collector.
package main

import (
	"os"
	"runtime/debug"

	"github.com/wasmnet/wasmnet/guest"
)

func main() {
	ch := guest.Channel() // first: the SDK tunes the collector here
	report := map[string]any{
		"gc":      gcSettings(),
		"env":     os.Environ(),
		"args":    os.Args,
		"files":   rootFiles(),
		"readetc": readEtc(),
		"cwd":     cwd(),
	}
	if err := ch.Send(report); err != nil {
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

// gcSettings returns the collector's memory limit (bytes) and GOGC
// percentage (-1: off).
func gcSettings() map[string]int64 {
	percent := debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	return map[string]int64{"memory_limit": debug.SetMemoryLimit(-1), "percent": int64(percent)}
}
