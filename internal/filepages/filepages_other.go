//go:build !linux

package filepages

// Drop does nothing: without Linux's /proc/self/smaps a process keeps the
// pages of the files it maps.
func Drop() {}
