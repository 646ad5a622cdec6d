# Tools of the Kubernetes platform test: the Pulumi engine, its Kubernetes
# provider plugin, etcd, the control plane (kube-apiserver,
# kube-controller-manager, kube-scheduler), the node (kubelet, kube-proxy) and
# CoreDNS. Included by the top-level Makefile (include mk/*.mk). The versions
# and download sums are pinned in test/internal/toolchain/versions.go; a
# release download is used only when its pinned SHA-256 matches, otherwise
# the tool is built from the Go module proxy. Builds are cached outside the
# repository, in GOPHEROPS_TOOLS_DIR (default: the user cache directory's
# gopherops-tools), and a tool already on PATH is used as it is.

GO ?= go
# Extra flags for the tools command: -check only looks, -print-path prints the
# directories to prepend to PATH, -force name,... rebuilds into the cache.
TOOLS_FLAGS ?=

.PHONY: tools

# In the order a time budget (.ci/run's) should spend: the platform suite's
# programs, then the node's PostgreSQL image (debootstrap from this machine's
# Debian mirror, minutes, once, root; the suite builds it itself when
# missing), and only then weed, which the service's S3 tests use and skip
# without. With TOOLS_FLAGS (-check, -print-path, -force ...) only the tools
# command runs, with those flags.
tools: ## Find, download (verified) or build pulumi, its Kubernetes provider, etcd, the Kubernetes control plane and node programs, CoreDNS, the PostgreSQL image, then weed (cached outside the repo)
ifeq ($(strip $(TOOLS_FLAGS)),)
	$(GO) run ./test/cmd/tools -platform
	@if [ "$$(id -u)" -eq 0 ] && command -v debootstrap >/dev/null 2>&1; then \
	  $(GO) run ./test/cmd/images -postgres; \
	else \
	  echo "make tools: no PostgreSQL image for the platform suite's node (it needs root and debootstrap)"; \
	fi
	$(GO) run ./test/cmd/tools
else
	$(GO) run ./test/cmd/tools $(TOOLS_FLAGS)
endif

# The platform suite: without KUBECONFIG it starts its own control plane
# (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) on loopback
# and, where the machine allows it (root, cgroups, runc), a node (containerd,
# kubelet, kube-proxy, CoreDNS) on which the stack's pods really run; with
# KUBECONFIG it deploys to that cluster. Extra go test flags: TEST_PLATFORM_FLAGS.
TEST_PLATFORM_FLAGS ?=
PLATFORM_TIMEOUT ?= 60m

.PHONY: test-platform

test-platform: ## Deploy the local stack with the real Pulumi engine onto a real control plane and node, walk the journeys, roll out, destroy (needs `make tools`)
	$(GO) test -vet=off -tags platform -count=1 -timeout $(PLATFORM_TIMEOUT) $(TEST_PLATFORM_FLAGS) ./test/platform/... ./test/internal/node/...
