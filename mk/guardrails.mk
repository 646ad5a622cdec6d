# Guardrails: the drift check of a stack (the policy pack, infra/policy, runs
# with `pulumi preview|up --policy-pack infra/policy`; docs/guardrails.md).
# Included by the top-level Makefile (include mk/*.mk).

GO ?= go
# The stack `make drift` checks, and extra flags for the drift command (-v
# streams the engine's progress).
STACK ?=
DRIFT_FLAGS ?=
DRIFT_BIN ?= bin/drift

.PHONY: drift

# Built, then run rather than `go run`: the go command turns every exit status
# into 1. make in turn reports any failure as 2, so only bin/drift itself
# tells drift (1) from a failed check (2); the workflow calls it directly.
drift: ## Check STACK for drift (refresh preview, no state written); prints Markdown, writes drift-STACK.json and .md; fails on drift or error
	@test -n "$(STACK)" || { echo "usage: make drift STACK=<stack>" >&2; exit 2; }
	@$(GO) build -o $(DRIFT_BIN) ./infra/cmd/drift
	$(DRIFT_BIN) -stack $(STACK) -json drift-$(STACK).json -markdown drift-$(STACK).md $(DRIFT_FLAGS)
