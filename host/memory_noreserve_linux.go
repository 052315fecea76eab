package host

import "syscall"

// mapNoReserve keeps a guest's reservation from counting against the
// kernel's overcommit limit before the guest touches it.
const mapNoReserve = syscall.MAP_NORESERVE
