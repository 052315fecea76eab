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
GO_REACTOR_EXAMPLES := echo flood primes
FUZZTIME ?= 10s

include mk/polyglot.mk
include mk/agents.mk

.PHONY: all build examples examples-go demo test test-go test-race fuzz lint bench clean

all: build examples

build: $(WASMNET)

# Always handed to go build, which knows what changed.
.PHONY: $(WASMNET)
$(WASMNET):
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

test: lint test-go test-race fuzz

test-go:
	$(GO) test -count=1 -timeout 20m ./...

# The concurrent core once more under the race detector.
test-race:
	$(GO) test -race -count=1 -timeout 20m ./channel ./host ./gateway

# Each fuzz target runs briefly; crashers land in testdata/fuzz and replay in test-go.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzValue$$' -fuzztime $(FUZZTIME) ./channel
	$(GO) test -run '^$$' -fuzz '^FuzzFrame$$' -fuzztime $(FUZZTIME) ./channel

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: build examples
	$(WASMNET) bench

clean: clean-polyglot clean-agents
	rm -rf $(BIN) $(GO_EXAMPLE_WASM)
