# Cross-built agents: `make agents` puts dist/wasmnet-<os>-<arch>[.exe] for every
# platform below; the ssh gateway uploads the one matching a remote host that
# lacks it (gateway/agents.go finds them). Included by the main Makefile.

AGENT_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 freebsd/amd64
AGENT_DIST ?= dist
GO ?= go

agent_bin = $(AGENT_DIST)/wasmnet-$(subst /,-,$(1))$(if $(findstring windows/,$(1)),.exe)
AGENT_BINS := $(foreach p,$(AGENT_PLATFORMS),$(call agent_bin,$(p)))

.PHONY: agents clean-agents
agents: $(AGENT_BINS)

# Always rebuilt (go build is incremental): the sources are the whole module.
# The stem is <os>-<arch>[.exe].
.PHONY: $(AGENT_BINS)
$(AGENT_BINS): $(AGENT_DIST)/wasmnet-%:
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=$(word 1,$(subst -, ,$(basename $*))) GOARCH=$(word 2,$(subst -, ,$(basename $*))) \
		$(GO) build -trimpath -ldflags='-s -w' -o $@ ./cmd/wasmnet

clean-agents:
	rm -f $(AGENT_BINS)
