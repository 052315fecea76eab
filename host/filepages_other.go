//go:build !linux

package host

// Without Linux's /proc/self/smaps an idle agent keeps the pages of the
// files it maps.
func dropFilePages() {}
