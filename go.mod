module github.com/wasmnet/wasmnet

go 1.24
