package starlarkwasm

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"strconv"
	"strings"
)

// Reading the interpreter to hash it maps its 6.6 MB of the binary into
// memory, where they stay resident for the life of the process: a third
// of a small client's memory. make starlark records the sum beside it
// (bin/starlark.wasm.sum: "<sha256> <size> <sha256 of the first headSize
// bytes>"), and the record is used only when it is of the embedded bytes:
// their size and their head match. A Go module's head carries its build
// ID, a hash of its content, so a rebuilt interpreter never matches an old
// record; one that does not match is hashed in full, as is an interpreter
// without a record (tests build their own).
const headSize = 4096

// RecordedSum returns the hex sha256 and size of the interpreter as make
// starlark recorded them, reading only its head; ok is false when there is
// no record of these bytes.
func RecordedSum() (sum string, size int, ok bool) {
	record, err := files.ReadFile("bin/starlark.wasm.sum")
	if err != nil {
		return "", 0, false
	}
	f, err := files.Open("bin/starlark.wasm")
	if err != nil {
		return "", 0, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, false
	}
	head := make([]byte, headSize)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		return "", 0, false
	}
	return matchRecord(string(record), fi, head[:n])
}

// matchRecord returns the sum of record when it describes a file of fi's
// size that starts with head.
func matchRecord(record string, fi fs.FileInfo, head []byte) (string, int, bool) {
	fields := strings.Fields(record)
	if len(fields) != 3 || len(fields[0]) != 2*sha256.Size {
		return "", 0, false
	}
	size, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil || size != fi.Size() || int64(len(head)) != min(size, headSize) {
		return "", 0, false
	}
	h := sha256.Sum256(head)
	if fields[2] != hex.EncodeToString(h[:]) {
		return "", 0, false
	}
	if _, err := hex.DecodeString(fields[0]); err != nil {
		return "", 0, false
	}
	return strings.ToLower(fields[0]), int(size), true
}
