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

tools: ## Find, download (verified) or build pulumi, its Kubernetes provider, etcd, the Kubernetes control plane and node programs, CoreDNS (cached outside the repo)
	$(GO) run ./test/cmd/tools $(TOOLS_FLAGS)

# The platform suite: without KUBECONFIG it starts its own etcd,
# kube-apiserver and kube-controller-manager on loopback; with KUBECONFIG it
# deploys to that cluster. Extra go test flags: TEST_PLATFORM_FLAGS.
TEST_PLATFORM_FLAGS ?=

.PHONY: test-platform

test-platform: ## Deploy the local stack with the real Pulumi engine onto a real API server, check it, update it, destroy it (needs `make tools`)
	$(GO) test -vet=off -tags platform -count=1 -timeout 30m $(TEST_PLATFORM_FLAGS) ./test/platform/...
