//go:build !unix

package host

// descriptorLimit reports no limit: there is no RLIMIT_NOFILE to read.
func descriptorLimit() (int64, bool) { return 0, false }
