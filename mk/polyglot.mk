# C and Rust example guests: `make examples-c` and `make examples-rust` build
# wasm-examples/<name>/<name>-c.wasm and <name>-rust.wasm from <name>.c and
# <name>.rs with the SDKs in guest/c and guest/rust. Included by the main
# Makefile. The commands are the ones internal/testwasm/polyglot.go runs.
#
# Toolchains (Debian): clang-14 with Debian's wasi-libc for C, Debian's own
# rustc (/usr/bin/rustc, whose sysroot has the wasm32-wasi std; a rustup
# rustc on PATH usually lacks it) for Rust.

POLYGLOT_EXAMPLES ?= echo wordcount primes conform flood halfclose stream
CLANG_WASM ?= $(shell command -v clang-14 2>/dev/null)
RUSTC_WASM ?= $(wildcard /usr/bin/rustc)
WASI_SYSROOT ?= /usr
# -mllvm -rotation-max-header-size=0: RATIONALE.md, "Why do C guests build without loop rotation?"
POLYGLOT_CFLAGS ?= -O2 -mllvm -rotation-max-header-size=0 -Wall -Wextra
# -C opt-level=3, as cargo build --release: RATIONALE.md, "Why are Rust guests built at opt-level 3?"
POLYGLOT_RUSTFLAGS ?= -C opt-level=3

POLYGLOT_C_APT := clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32
POLYGLOT_RUST_APT := rustc libstd-rust-dev-wasm32

POLYGLOT_C_WASM := $(foreach n,$(POLYGLOT_EXAMPLES),wasm-examples/$(n)/$(n)-c.wasm)
POLYGLOT_RUST_WASM := $(foreach n,$(POLYGLOT_EXAMPLES),wasm-examples/$(n)/$(n)-rust.wasm)

.PHONY: examples-c examples-rust check-clang-wasm check-rustc-wasm clean-polyglot

examples-c: check-clang-wasm $(POLYGLOT_C_WASM)
examples-rust: check-rustc-wasm $(POLYGLOT_RUST_WASM)

check-clang-wasm:
	@if [ -z "$(CLANG_WASM)" ]; then \
		echo "clang-14 not found: to build the C guests run: apt-get install $(POLYGLOT_C_APT)" >&2; exit 1; fi
	@if [ ! -f "$(WASI_SYSROOT)/lib/wasm32-wasi/libc.a" ] || [ ! -f "$(WASI_SYSROOT)/include/wasm32-wasi/stdio.h" ]; then \
		echo "no wasi-libc in $(WASI_SYSROOT) (lib/wasm32-wasi, include/wasm32-wasi): apt-get install $(POLYGLOT_C_APT)" >&2; exit 1; fi
	@if ! ls /usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1; then \
		echo "no wasm32 compiler-rt for clang-14: apt-get install libclang-rt-14-dev-wasm32" >&2; exit 1; fi

check-rustc-wasm:
	@if [ -z "$(RUSTC_WASM)" ]; then \
		echo "/usr/bin/rustc not found: to build the Rust guests run: apt-get install $(POLYGLOT_RUST_APT)" >&2; exit 1; fi
	@if ! ls "$$($(RUSTC_WASM) --print sysroot)"/lib/rustlib/wasm32-wasi/lib/libstd-*.rlib >/dev/null 2>&1; then \
		echo "$(RUSTC_WASM) has no wasm32-wasi std: apt-get install libstd-rust-dev-wasm32" >&2; exit 1; fi

# A C guest depends on every source in its folder (wordcount_tables.h) and the SDK.
wasm-examples/%-c.wasm: check-clang-wasm
	$(CLANG_WASM) --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) $(POLYGLOT_CFLAGS) \
		-I guest/c -I $(dir $@) guest/c/wasmnet.c $(dir $@)$(notdir $(*D)).c -o $@

wasm-examples/%-rust.wasm: check-rustc-wasm
	$(RUSTC_WASM) --edition 2021 --target wasm32-wasi $(POLYGLOT_RUSTFLAGS) \
		$(dir $@)$(notdir $(*D)).rs -o $@

clean-polyglot:
	rm -f $(POLYGLOT_C_WASM) $(POLYGLOT_RUST_WASM)
