module github.com/wasmnet/wasmnet

go 1.24.0

require (
	github.com/kevinburke/ssh_config v1.6.0 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	golang.org/x/crypto v0.48.0 // indirect
	golang.org/x/sys v0.41.0 // indirect
)
