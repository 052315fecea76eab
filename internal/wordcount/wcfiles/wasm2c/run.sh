#!/bin/sh
# run.sh DIR: the word count of internal/wordcount/wcfiles over the files of
# DIR, as a wasip1 module compiled ahead of time to native code by clang -O2
# through wabt's wasm2c: the bound an optimising compiler sets on Go's
# WebAssembly output (BENCHMARKS.md, "The account of the Go word count").
# Needs go, wabt (wasm2c, with its runtime in /usr/share/wabt/wasm2c) and
# clang-14; the clang step takes about two minutes.
set -eu
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
out=${TMPDIR:-/tmp}/wcfiles-wasm2c
mkdir -p "$out"
(cd "$here/../../../.." && GOOS=wasip1 GOARCH=wasm go build -o "$out/wcfiles.wasm" ./internal/wordcount/wcfiles)
wasm2c "$out/wcfiles.wasm" -o "$out/wcfiles.c" 2>/dev/null
rt=/usr/share/wabt/wasm2c
clang-14 -O2 -I"$rt" -I"$out" "$out/wcfiles.c" "$here/wasi.c" "$rt/wasm-rt-impl.c" -lm -o "$out/wcfiles"
cat "$dir"/* | "$out/wcfiles"
