// Package tests holds wasmnet's end-to-end tests: real agent processes
// over popen, exec=, ssh= to an OpenSSH sshd on 127.0.0.1 and in network
// namespaces the tests make, socket= to `wasmnet serve`, an arm64 agent
// under qemu-aarch64-static, the SDK conformance suite and the shared
// msgpack test vectors. `.ci/run` installs every tool they need; a missing
// one fails the test that needs it, naming the package to install.
package tests
