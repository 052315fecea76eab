//go:build unix

package regfile

import (
	"os"
	"syscall"
)

// openNoWait opens path for reading without waiting for a writer, as an
// open of a FIFO does. On a regular file O_NONBLOCK changes nothing.
func openNoWait(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
