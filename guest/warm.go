package guest

// The codec runs once at start-up, on a value of every kind Receive
// returns, so that what it sets up on first use (the receive buffer, the
// encoders and decoders msgpack caches per type, the heap they need) is
// part of a reactor's initialised state: an agent keeps that state as an
// image and starts every execution from it (abi/README.md), so whatever
// is left to the first use is paid again by every execution.
func init() { warmCodec() }

func warmCodec() {
	recvMu.Lock()
	defer recvMu.Unlock()
	sendMu.Lock()
	defer sendMu.Unlock()
	if recvBuf == nil {
		recvBuf = make([]byte, recvStart)
	}
	sample := map[string]any{
		"nil": nil, "bool": true, "int": int64(-1), "uint": uint64(1) << 63, "float": 1.5,
		"str": "s", "bin": []byte{1}, "array": []any{int64(1), "s"},
		"map": map[any]any{int64(1): "s"}, "chan": &Chan{h: 1},
	}
	defer sendBuf.Reset()
	if err := sendEnc.Encode(sample); err != nil {
		return
	}
	var v any
	unmarshal(recvDec, &recvReader, sendBuf.Bytes(), &v)
	recvReader.Reset(nil)
}
