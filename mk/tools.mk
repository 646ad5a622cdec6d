# Tools of the Kubernetes platform test: the Pulumi engine, its Kubernetes
# provider plugin, kube-apiserver, kube-controller-manager and etcd.
# Included by the top-level Makefile (include mk/*.mk). The versions are pinned
# in test/internal/toolchain/versions.go; builds are cached outside the
# repository, in GOPHEROPS_TOOLS_DIR (default: the user cache directory's
# gopherops-tools), and a tool already on PATH is used as it is.

GO ?= go
# Extra flags for the tools command: -check only looks, -print-path prints the
# directories to prepend to PATH, -force name,... rebuilds into the cache.
TOOLS_FLAGS ?=

.PHONY: tools

tools: ## Find or build pulumi, the Kubernetes provider, kube-apiserver, kube-controller-manager and etcd (cached outside the repo)
	$(GO) run ./test/cmd/tools $(TOOLS_FLAGS)
