# GopherOps: `make run` serves the app locally, `make test` runs every suite
# that can run on this machine. `make help` lists the rest.

SHELL := /bin/bash
GO ?= go
# The Go modules of the workspace; `go test ./...` at the root does not span a
# workspace, so every target names them.
MODULES := ./service/... ./migrations/... ./infra/... ./test/...
# One set of build flags everywhere: each of -race, -cover, -trimpath or a
# CGO change would be a separate build cache. -count=1: tests that talk to a
# real PostgreSQL must run, not be replayed from the test cache.
TEST_FLAGS ?= -vet=off -count=1 -timeout 30m

.DEFAULT_GOAL := help
.PHONY: help run build test vet test-service fuzz bench test-live clean-data

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

# Built, then exec'd rather than `go run`: the go command exits 1 whenever it
# sees Ctrl-C, so make would print "Error 1" after devrun's clean shutdown.
# A first build compiles every dependency for minutes: mk/progress.awk counts
# the packages as they compile, so the terminal is never silent.
DEVRUN ?= bin/devrun
run: ## Run the service on http://127.0.0.1:8080 (HTTP_ADDR=:8080 opens it to the network; starts a PostgreSQL under .data/ unless DATABASE_URL is set)
	@echo "make run: building $(DEVRUN) (the first build compiles every dependency and can take minutes)"
	@set -o pipefail; $(GO) build -v -o $(DEVRUN) ./service/cmd/devrun 2>&1 | awk -v tty=$$([ -t 1 ] && echo 1 || echo 0) -f mk/progress.awk
	@exec $(DEVRUN)

build: ## Build bin/gopherops with version metadata
	$(GO) build -ldflags "-X github.com/gopherops/gopherops/service/internal/buildinfo.Version=$$(git describe --tags --always --dirty 2>/dev/null || echo dev) \
	  -X github.com/gopherops/gopherops/service/internal/buildinfo.Commit=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
	  -X github.com/gopherops/gopherops/service/internal/buildinfo.Date=$$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	  -o bin/gopherops ./service/cmd/gopherops

vet: ## go vet every module once (tests then run with -vet=off)
	$(GO) vet $(MODULES)

# The platform suite joins `make test` once `make tools` has provided its
# programs, always on its own loopback control plane: a KUBECONFIG in the
# caller's shell must never send `make test` to a real cluster.
PLATFORM_READY = $(GO) run ./test/cmd/tools -check >/dev/null 2>&1
# A caller with a hard time limit (.ci/run) exports GOPHEROPS_DEADLINE, in
# seconds since the epoch: the platform suite then runs only if about
# PLATFORM_MINUTES are left (measured: docs/testing.md) and stops with its
# go test report a minute before the deadline rather than be killed at it.
PLATFORM_MINUTES ?= 30

test: vet ## Run every test suite that can run here (service, migrations, infra mocks, Terratest suites: service, abuse, browser, delivery; the platform suite with real pods once `make tools` ran)
	@$(PLATFORM_READY) || echo "make test: the platform suite is skipped: its programs are missing (\`make tools\` builds them once, about 50 minutes on an idle 2-core machine; see docs/testing.md)"
	$(GO) test $(TEST_FLAGS) $(MODULES)
	@if ! $(PLATFORM_READY); then exit 0; fi; \
	left=$$(( $${GOPHEROPS_DEADLINE:-0} - $$(date +%s) )); \
	if [ -n "$${GOPHEROPS_DEADLINE:-}" ] && [ "$$left" -lt $$(( $(PLATFORM_MINUTES) * 60 )) ]; then \
	  echo "make test: the platform suite is skipped: $$(( left / 60 )) minutes are left before GOPHEROPS_DEADLINE and it needs about $(PLATFORM_MINUTES) (docs/testing.md); it is only compiled:"; \
	  $(GO) test -vet=off -tags platform -count=1 -run '^$$' ./test/platform/... ./test/internal/node/...; \
	else \
	  echo "env -u KUBECONFIG $(MAKE) test-platform"; \
	  env -u KUBECONFIG $(MAKE) --no-print-directory test-platform $${GOPHEROPS_DEADLINE:+PLATFORM_TIMEOUT=$$(( left / 60 - 1 ))m}; \
	fi

test-service: ## Only the service module's tests
	$(GO) test $(TEST_FLAGS) ./service/... ./migrations/...

# Every fuzz target of a request decoder, as package:target; `go test -fuzz`
# takes one target at a time.
FUZZ_TARGETS := \
	./service/internal/api/:FuzzCreateUserRequest \
	./service/internal/api/:FuzzJSONBodies \
	./service/internal/api/:FuzzQueryAndHeaders \
	./service/contract/:FuzzUserJSON \
	./service/internal/ui/:FuzzForms \
	./service/internal/ui/:FuzzFlashCookie \
	./service/internal/ui/:FuzzPageTruncate \
	./service/internal/web/:FuzzIfMatch \
	./service/internal/web/:FuzzCheckJSONText \
	./service/internal/imaging/:FuzzInspect \
	./service/internal/safetext/:FuzzTruncate

fuzz: ## Fuzz every request decoder (JSON bodies, forms, query parameters, headers, images) for FUZZTIME each (default 30s)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "== $$name ($$pkg)"; \
	  $(GO) test -vet=off -run '^$$' -fuzz "^$$name\$$" -fuzztime $${FUZZTIME:-30s} $$pkg; \
	done

bench: ## Load the real binary and PostgreSQL at 16 and 64 connections (wrk; pgbench -S as the database's limit): req/s, p50/p99, server CPU and allocations per request, against issue 10's targets
	$(GO) run ./service/cmd/loadbench $(BENCH_ARGS)

test-live: ## Live Terratest suite against a throwaway AWS stack, with a point-in-time restore drill (needs AWS credentials and GOPHEROPS_LIVE=1; ~70-95 min, see README)
	$(GO) test -vet=off -tags live -count=1 -timeout 150m ./test/infra/...

clean-data: ## Delete the local development PostgreSQL and blobs under .data/
	rm -rf .data

-include mk/*.mk
