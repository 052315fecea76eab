// Package rss reads a process's resident memory from /proc: now (VmRSS)
// and at its peak (VmHWM). Unlike wait4's ru_maxrss, which a child starts
// with the RSS its parent had when it forked, VmHWM counts the process's
// own memory since its exec.
package rss

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Self returns this process's resident memory in bytes.
func Self() (int64, error) { return read("/proc/self/status", "VmRSS:") }

// Process returns the resident memory of process pid in bytes.
func Process(pid int) (int64, error) { return read(statusPath(pid), "VmRSS:") }

// FileSelf returns the part of this process's resident memory that is
// pages of files it maps (RssFile): its executable's above all.
func FileSelf() (int64, error) { return read("/proc/self/status", "RssFile:") }

// PeakSelf returns this process's peak resident memory in bytes.
func PeakSelf() (int64, error) { return read("/proc/self/status", "VmHWM:") }

// Peak returns the peak resident memory of process pid in bytes. It fails
// for a process that has ended, a zombie included (it has no memory left to
// measure), and where there is no /proc.
func Peak(pid int) (int64, error) { return read(statusPath(pid), "VmHWM:") }

func statusPath(pid int) string { return "/proc/" + strconv.Itoa(pid) + "/status" }

// read returns the field of a /proc status file, given in kB, in bytes.
func read(path, field string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("rss: %w", err)
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte(field)); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("rss: %s %s: %w", path, field, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("rss: no %s in %s (process ended?)", field, path)
}
