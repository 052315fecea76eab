# wasmnet: `make demo` runs the main job on this machine, `make test` runs every test.

GO ?= go
BIN := bin
WASMNET := $(BIN)/wasmnet
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

GO_EXAMPLES := $(patsubst wasm-examples/%/main.go,%,$(wildcard wasm-examples/*/main.go))
GO_EXAMPLE_WASM := $(foreach n,$(GO_EXAMPLES),wasm-examples/$(n)/$(n).wasm)
# The same guests built as reactors, whose initialised state the agent
# keeps as an image (RATIONALE.md): what wasmnet bench measures Go guests with.
GO_REACTOR_EXAMPLES := echo flood primes wordcount
# A count, not a duration: Go 1.26's fuzzing coordinator can fail a target
# with "context deadline exceeded" when a duration ends under load
# (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?= 10000x

include mk/polyglot.mk
include mk/agents.mk

.PHONY: all build examples examples-go demo test test-go test-race fuzz fuzz-long fleet64 lint bench clean starlark

all: build examples

build: $(WASMNET)

# The Starlark interpreter guest, which the client embeds (gateway.Source,
# wasmnet run -c). Built the way internal/testwasm builds it, so that the
# same sources give the same bytes and the same sha256.
STARLARK_WASM := internal/starlarkwasm/bin/starlark.wasm
starlark: $(STARLARK_WASM)
.PHONY: $(STARLARK_WASM)
$(STARLARK_WASM):
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -buildmode=c-shared -o $@ ./guest/starlark
	@# Its sum, so that the client need not read it (internal/starlarkwasm/record.go).
	@sum=$$(sha256sum < $@ | cut -c1-64) && head=$$(head -c 4096 $@ | sha256sum | cut -c1-64) && \
		echo "$$sum $$(wc -c < $@ | tr -d ' ') $$head" > $@.sum || rm -f $@.sum

# Always handed to go build, which knows what changed.
.PHONY: $(WASMNET)
$(WASMNET): $(STARLARK_WASM)
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/wasmnet

examples: examples-go examples-c examples-rust

examples-go:
	@for n in $(GO_EXAMPLES); do \
		mode=; [ $$n = reactor ] && mode=-buildmode=c-shared; \
		echo "go build wasm-examples/$$n/$$n.wasm"; \
		GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath $$mode -o wasm-examples/$$n/$$n.wasm ./wasm-examples/$$n || exit 1; \
	done
	@for n in $(GO_REACTOR_EXAMPLES); do \
		echo "go build -buildmode=c-shared wasm-examples/$$n/$$n-reactor.wasm"; \
		GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -o wasm-examples/$$n/$$n-reactor.wasm ./wasm-examples/$$n || exit 1; \
	done

DEMO_CORPUS := $(BIN)/demo-corpus
demo: build examples-go
	$(WASMNET) gen-corpus --size 4MiB --seed 1 --out $(DEMO_CORPUS)
	$(WASMNET) run -g 4*popen --input $(DEMO_CORPUS) --merge --top 20 wasm-examples/wordcount/wordcount.wasm

# Every part runs even when one fails (as make -k would), each timed, and
# the parts that failed are named at the end; the status is then 2.
TEST_PARTS := lint test-go test-race fuzz
test:
	@failed=; for p in $(TEST_PARTS); do \
		echo "== make $$p"; start=$$(date +%s); \
		if $(MAKE) --no-print-directory $$p; then r=ok; else r=FAILED; failed="$$failed $$p"; fi; \
		echo "== make $$p: $$r in $$(( $$(date +%s) - start ))s"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; exit 2; fi; \
	echo "make test: every part passed"

test-go: $(STARLARK_WASM)
	$(GO) test -count=1 -timeout 20m ./...

# The concurrent core once more under the race detector.
test-race: $(STARLARK_WASM)
	$(GO) test -race -count=1 -timeout 20m ./channel ./host ./gateway

# Every fuzz target, as package:Target: each decoding path of peer bytes
# (frames, hello, values, request and notification bodies) and the printer
# of received values.
FUZZ_TARGETS := channel:FuzzFrame channel:FuzzHello channel:FuzzValue channel:FuzzBody \
	host:FuzzServeRequest gateway:FuzzClientNotification cmd/wasmnet:FuzzWriteJSON

# Each fuzz target runs briefly; crashers land in testdata/fuzz and replay in test-go.
# Every target runs even when one fails; those that failed are named.
fuzz:
	@failed=; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$pkg $$name"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed"; exit 1; fi

# About ten minutes over all targets, one worker each (the machine is
# shared). What the fuzzer found interesting is copied from the Go cache into
# each package's testdata/fuzz, to be committed: plain `go test` replays it.
FUZZ_LONG_TIME ?= 85s
fuzz-long:
	@cache=$$($(GO) env GOCACHE)/fuzz/github.com/wasmnet/wasmnet; \
	for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$pkg $$name for $(FUZZ_LONG_TIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZ_LONG_TIME) -parallel 1 ./$$pkg || exit 1; \
		mkdir -p $$pkg/testdata/fuzz/$$name; \
		cp $$cache/$$pkg/$$name/* $$pkg/testdata/fuzz/$$name/ 2>/dev/null || true; \
	done

# The acceptance fleet of issue 24 at full size: 64 hosts in network
# namespaces (root, sshd, iproute2), one sshd down, one agent killed during
# its first execution, one compilation cache on a full disk. `make test`
# runs the same test with 8 hosts. Figures in BENCHMARKS.md.
fleet64: $(STARLARK_WASM)
	WASMNET_FLEET_HOSTS=64 $(GO) test -count=1 -v -run '^TestNetnsFleetFaults$$' -timeout 30m ./tests

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: build examples
	$(WASMNET) bench

clean: clean-polyglot clean-agents
	rm -rf $(BIN) $(GO_EXAMPLE_WASM) $(STARLARK_WASM)
