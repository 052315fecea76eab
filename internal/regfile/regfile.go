// Package regfile opens files that must be regular files, such as a module
// read again for an upload or a file of the compilation cache, without
// waiting on what may have been put in their place: the open of a FIFO
// waits for a writer, and everything behind it with it.
package regfile

import (
	"errors"
	"fmt"
	"os"
)

// ErrNotRegular is the error of Open for a path that is not a regular
// file.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading if it is a regular file. What is checked is
// the file opened, not the path before the open, which another program
// may change in between.
func Open(path string) (*os.File, error) {
	f, err := openNoWait(path)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	return f, nil
}
