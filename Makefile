# booksync: the front door. Every habit is one target; `make help` lists them.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
# sam build needs an interpreter of the Lambda runtime's version (python3.13) on PATH
PY313   ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin) $(dir $(shell command -v python3.13 2>/dev/null)))

.PHONY: help setup lint browser test test-fast chaos fuzz demo local bench build deploy clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

$(STAMP): requirements-dev.txt layers/requirements.txt pyproject.toml
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "booksync needs Python 3.11 or newer"'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)  ## create .venv and install the pinned requirements

lint: setup  ## ruff (lint + format check), cfn-lint, sam validate --lint, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint
	$(BIN)/mypy

# the operator page's browser test drives Debian's Chromium (not a browser Playwright downloads)
export CHROMIUM ?= /usr/bin/chromium
SUDO    := $(if $(filter 0,$(shell id -u)),,sudo)

browser:  ## Debian's chromium package for the operator page's browser test (apt-get)
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		$(SUDO) apt-get install -y -qq chromium >/dev/null; } || \
		echo "could not install Chromium: install it and set CHROMIUM=/path/to/chromium"

# The tests wait on sockets and budgets as much as they compute, so they run wider than the
# cores: unit, integration and simulators in 4 workers; then e2e in 2 (one local stack each, a
# file's tests together) beside the small fuzz run (its own stacks, in a process of its own: a
# stack's moto is per process), its output printed after; either failing fails the target.
test: lint browser  ## lint, then every test (unit, integration, simulators; then e2e beside a small fuzz run)
	$(BIN)/pytest -q -n 4 tests/unit tests/integration tests/simulators
	@mkdir -p .local
	$(BIN)/pytest -q tests/fuzz >.local/fuzz-test.log 2>&1 & fuzz=$$!; \
	CHAOS_CONTACTS=$(or $(CHAOS_CONTACTS),60) CHAOS_TIME=$(or $(CHAOS_TIME),60) CHAOS_BILLING=$(or $(CHAOS_BILLING),20) CHAOS_TIME_BILLING=$(or $(CHAOS_TIME_BILLING),40) CHAOS_THROTTLE=0 \
		$(BIN)/pytest -q -n 2 --dist loadfile tests/e2e; e2e=$$?; \
	wait $$fuzz; fuzzed=$$?; echo "--- tests/fuzz (150 webhook cases per provider, about 300 API cases)"; \
	cat .local/fuzz-test.log; test $$e2e -eq 0 && test $$fuzzed -eq 0

test-fast: setup  ## unit and integration tests only, no lint
	$(BIN)/pytest -q -n auto tests/unit tests/integration

chaos: setup  ## the fault-injection e2e tests at the issues' sizes (500 contacts, 2,000 time entries, 1,000 invoices and 1,500 payments, 1,000 timesheets billed; an hour or more)
	CHAOS_CONTACTS=500 $(BIN)/pytest -q tests/e2e/test_faults_e2e.py
	CHAOS_TIME=2000 $(BIN)/pytest -q tests/e2e/test_time_faults_e2e.py
	CHAOS_BILLING=1000 $(BIN)/pytest -q tests/e2e/test_billing_faults_e2e.py
	CHAOS_TIME_BILLING=1000 $(BIN)/pytest -q tests/e2e/test_time_billing_faults_e2e.py

fuzz: setup  ## schemathesis over /v1/openapi.json on the local stack and the webhook fuzzer; prints figures
	FUZZ_API_CASES=$(or $(FUZZ_API_CASES),2400) FUZZ_WEBHOOK_CASES=$(or $(FUZZ_WEBHOOK_CASES),5000) \
		$(BIN)/pytest -q --timeout=3600 tests/fuzz

demo: setup  ## start the local stack, run a real sync end to end, print what happened
	$(BIN)/python -m local.demo

local: setup  ## serve the embedded stack (API on :3000, simulators on :8701-8703) until Ctrl-C
	$(BIN)/python -m local

bench: setup  ## benchmarks; prints figures (BENCH_RECORDS=1000,5000 by default: about 45 minutes)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.sync $(if $(BENCH_RECORDS),--records $(BENCH_RECORDS)) $(if $(BENCH_QUEUE_CONCURRENCY),--queue-concurrency $(BENCH_QUEUE_CONCURRENCY))
	$(BIN)/python -m bench.timesheets
	$(BIN)/python -m bench.billing

build: setup  ## sam build (needs python3.13 on PATH, see README)
	PATH="$(PY313):$$PATH" $(BIN)/sam build

deploy: build  ## sam deploy --guided
	$(BIN)/sam deploy --guided

clean:  ## remove the venv, build output and local state
	rm -rf $(VENV) .aws-sam .local .pytest_cache .mypy_cache .ruff_cache
