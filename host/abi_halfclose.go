package host

import (
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmnet/wasmnet/abi"
)

// close_send(h): the guest's half-close (channel.Channel.CloseSend).
func (e *execution) closeSend(_ api.Module, s []uint64) abi.Result {
	h, res := e.lookup(s[0])
	if h == nil {
		return res
	}
	h.ch.CloseSend()
	return abi.Ok
}
