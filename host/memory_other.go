//go:build !unix

package host

const pageSize = 65536

// reserve allocates size bytes on the Go heap where the platform offers no
// mmap: the memory is still never copied as it grows.
func reserve(size uint64) []byte { return make([]byte, 0, size) }

func release([]byte) {}
