//go:build !wasip1

package main

import "errors"

// rawRead needs WASI; this file lets the package build for the host, as
// `go vet ./...` does.
func rawRead(string) ([]byte, error) { return nil, errors.New("fsattack: rawread needs wasip1") }
