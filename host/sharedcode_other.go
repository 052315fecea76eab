//go:build !linux

package host

// Without Linux's /proc/self/maps an agent keeps the code wazero loaded
// as it is.

import "sync"

var regionsMu sync.Mutex

type codeRegion struct{}

func codeRegions() map[codeRegion]bool { return nil }

func shareCode(string, map[codeRegion]bool, map[codeRegion]bool) (codeRegion, bool) {
	return codeRegion{}, false
}

func sameSharedCode(string, map[codeRegion]bool, map[codeRegion]bool) (codeRegion, bool) {
	return codeRegion{}, false
}

func dropSharedCode(codeRegion) {}

// codeSharing is false: no load is checked against shared code, so none
// goes through an outline.
const codeSharing = false
