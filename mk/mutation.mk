# Mutation testing: does each package's own test suite notice when its code
# is changed? Included by the top-level Makefile (include mk/*.mk). Not part
# of `make test`: it runs each package's tests once per mutant (see
# docs/testing.md for how long that takes); the nightly workflow runs it.

GO ?= go
GREMLINS_VERSION ?= v0.6.0
# Installed once per version into the tools cache, never into the repository.
GOPHEROPS_TOOLS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/gopherops-tools
GREMLINS ?= $(GOPHEROPS_TOOLS_DIR)/gremlins-$(GREMLINS_VERSION)/gremlins
# MUTATION_FLAGS go to test/cmd/mutation, for example
# -packages service/internal/web,infra/cluster  -workers 1  -floor 90
# -files auth.go (a partial run of the named files, marked as such)
# -report DIR (default MUTATION_REPORT).
MUTATION_REPORT ?= bin/mutation
MUTATION_FLAGS ?=

.PHONY: mutation

mutation: | $(GREMLINS) ## Mutation testing of the packages that hold promises: kill rate per package and every survivor; fails under 90% (report in MUTATION_REPORT, default bin/mutation)
	$(GO) run ./test/cmd/mutation -gremlins $(GREMLINS) -report $(MUTATION_REPORT) $(MUTATION_FLAGS)

$(GREMLINS):
	GOBIN=$(dir $(GREMLINS)) GOWORK=off GOFLAGS= $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
