// Package rss reads a process's resident memory, VmRSS, from /proc.
package rss

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Self returns this process's resident memory in bytes.
func Self() (int64, error) { return read("/proc/self/status") }

// Process returns the resident memory of process pid in bytes.
func Process(pid int) (int64, error) { return read(fmt.Sprintf("/proc/%d/status", pid)) }

func read(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("rss: %w", err)
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("rss: %s: %w", path, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("rss: no VmRSS in " + path)
}
