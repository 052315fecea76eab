//go:build !linux

package host

import "errors"

// Without memfd images (image_other.go) an agent prepares every module
// itself.
const preparedSupported = false

func writeMemImage(string, *memImage) (uint64, uint32, error) {
	return 0, 0, errors.New("host: prepared modules need Linux")
}

func readPrepared(string, string, string) (*preparedModule, error) {
	return nil, errors.New("host: prepared modules need Linux")
}

func dropResident([]byte) {}

func openMemImage(string, uint64, uint32) (*memImage, error) {
	return nil, errors.New("host: prepared modules need Linux")
}

func (img *moduleImage) dropViews() {}
