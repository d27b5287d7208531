# `make demo` and `make test` do all the set-up on a fresh machine: system packages (when root),
# the virtual environment with the locked Python packages, and the local stack.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO_MEMBERS ?= 2000
DEMO_MONTH ?= 2026-11

.PHONY: help deps tools system-deps stack-up stack-down demo test test-fast test-dated bench test-production-temporal staging staging-down drills drills-cluster lint format lock clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

system-deps: ## Install PostgreSQL, Java 17 and Maven with apt-get where missing
	@bash scripts/system-deps.sh

$(INSTALLED): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "Python 3.11+ is needed (found $$($(PYTHON) --version))" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

# kustomize renders deploy/kubernetes in the tests: kubectl's own where it is installed, else
# kustomize built from the Go module proxy into .tools (Go is needed then; about a minute once)
KUSTOMIZE_VERSION := v5.5.0
tools: ## kustomize for the Kubernetes files' test, where kubectl is missing
	@command -v kubectl >/dev/null || test -x .tools/kustomize \
	  || { command -v go >/dev/null || { echo "kubectl or Go is needed to render deploy/kubernetes" >&2; exit 1; }; \
	       echo "building kustomize $(KUSTOMIZE_VERSION) into .tools"; \
	       GOBIN=$(CURDIR)/.tools go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION); }

deps: system-deps $(INSTALLED) tools ## Everything installed (system packages, .venv, kustomize)

stack-up: deps ## Start PostgreSQL, Kafka and Temporal (reuses running ones)
	$(BIN)/telebill stack up

stack-down: ## Stop the local stack (data kept)
	@test -x $(BIN)/telebill && $(BIN)/telebill stack down || true

demo: stack-up ## The whole month on DEMO_MEMBERS members: seed, settle, notify, deliver, report
	DEMO_MEMBERS=$(DEMO_MEMBERS) DEMO_MONTH=$(DEMO_MONTH) bash scripts/demo.sh
	$(BIN)/telebill templates preview --channel sms

lint: deps ## ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: stack-up lint ## Bring up what the tests need and run them all, then the dated runs
	@rc=0; $(BIN)/python -m pytest --durations=30 || rc=$$?; \
	  $(BIN)/python -m tests.dated || rc=$$?; exit $$rc

# The fast tier: no PostgreSQL, Kafka or Temporal (the service layer on the fakes of tests/fakes/),
# and not the few unit tests marked slow in tests/unit/conftest.py; `make test` runs them all.
test-fast: $(INSTALLED) ## Unit and service-layer tests, no services, under a minute
	$(BIN)/python -m pytest -q -m 'not slow and not production' tests/unit tests/service

test-dated: deps ## The date-sensitive tests as if today were each hard date (tests/clock.py)
	$(BIN)/python -m tests.dated

bench: stack-up ## Every benchmark (under 20 min; BENCH_MEMBERS=n for more): bench-report.md and .json
	$(BIN)/python -m bench.all

test-production-temporal: stack-up ## The production Temporal server: built once from the Go module proxy, its UI queries
	$(BIN)/python -m pytest -m production tests/production

# The production layout run whole on this machine (telebill/staging): three brokers, the
# production Temporal server, a process per role, Nginx, Prometheus; then a month through it.
# STAGING_INFRASTRUCTURE=dev: the same on the dev Temporal server and one broker, to compare.
STAGING_MEMBERS ?= 100000
STAGING_INFRASTRUCTURE ?= production
staging: deps ## The staging installation from scratch, then a month of STAGING_MEMBERS with faults
	$(BIN)/telebill staging down
	$(BIN)/telebill staging up --infrastructure $(STAGING_INFRASTRUCTURE)
	$(BIN)/python -m bench.staging --members $(STAGING_MEMBERS)

staging-down: ## Stop the staging installation and delete it
	@if [ -x $(BIN)/telebill ]; then $(BIN)/telebill staging down; fi

drills: stack-up ## Fault drills: the month by real processes, one fault each (SEED=n ONLY="a b" ROUNDS=3)
	$(BIN)/python -m tests.drills $(if $(SEED),--seed $(SEED)) $(if $(ROUNDS),--rounds $(ROUNDS)) $(foreach d,$(ONLY),--only $(d))

# A second stack beside the main one (its own folder and ports) whose Kafka is three brokers.
CLUSTER := TELEBILL_STACK_DIR=$(CURDIR)/.stack-cluster TELEBILL_KAFKA_BROKERS=3 \
	TELEBILL_PG_PORT=55532 TELEBILL_KAFKA_PORT=59192 TELEBILL_KAFKA_CONTROLLER_PORT=59193 \
	TELEBILL_TEMPORAL_PORT=57333 TELEBILL_TEMPORAL_UI_PORT=58333
CLUSTER_DRILLS ?= broker-kill-delivering broker-kill-publishing

drills-cluster: deps ## The broker drills on a stack of its own with three Kafka brokers (ONLY=, ROUNDS=)
	$(CLUSTER) $(BIN)/telebill stack up
	$(CLUSTER) $(BIN)/python -m tests.drills $(if $(SEED),--seed $(SEED)) $(if $(ROUNDS),--rounds $(ROUNDS)) \
		$(foreach d,$(or $(ONLY),$(CLUSTER_DRILLS)),--only $(d)); rc=$$?; $(CLUSTER) $(BIN)/telebill stack down; exit $$rc

format: deps ## Format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The pins are what the .venv holds; pip-tools (in a throw-away venv, not one of ours) adds the
# SHA-256 of every file PyPI serves for each, so `pip install --require-hashes` refuses a file
# that changed since.
lock: ## Re-pin requirements.lock, with every file's hash, from the current .venv
	$(BIN)/pip freeze --exclude-editable > .lock.in
	$(PYTHON) -m venv .lock-tools && .lock-tools/bin/pip install -q --disable-pip-version-check pip-tools
	.lock-tools/bin/pip-compile -q --generate-hashes --allow-unsafe --no-header --strip-extras \
	  --no-emit-find-links -o requirements.lock .lock.in
	rm -rf .lock.in .lock-tools

clean: stack-down ## Remove .venv (the stack's data stays; `telebill stack down --purge` deletes it)
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
