//go:build !unix

package regfile

import "os"

// openNoWait opens path for reading; where there are no FIFOs to wait
// for, as a plain open.
func openNoWait(path string) (*os.File, error) { return os.Open(path) }
