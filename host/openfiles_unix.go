//go:build unix

package host

import "syscall"

// descriptorLimit returns the soft RLIMIT_NOFILE, infinity as 2^30.
func descriptorLimit() (int64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return int64(min(r.Cur, 1<<30)), true
}
