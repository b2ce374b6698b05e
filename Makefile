# Qonto reconciliation — every entry point a person or a script needs.
# `make test` and `make demo` work on a fresh machine: they install uv, Kafka and
# PostgreSQL as needed (no Docker required).

SHELL := /bin/bash
UV = $(shell scripts/ensure-uv.sh)

.PHONY: help test test-fast lint typecheck fmt bench demo backtest-demo up down infra-up infra-down clean

help:
	@echo "make demo      - run the whole system on a simulated month of Qonto activity"
	@echo "make backtest-demo - the demo's month in shadow mode, a scripted review, the back-test"
	@echo "make test      - the whole test suite against real Kafka and PostgreSQL"
	@echo "make bench     - every benchmark; writes bench/results.json and BENCHMARKS.md"
	@echo "make up/down   - start/stop Kafka, PostgreSQL, the emulator and the services"
	@echo "make lint typecheck fmt"

test:
	scripts/test.sh

lint:
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck:
	$(UV) run mypy libs/common/src services/ingest/src services/sync/src services/matcher/src tools/qonto-sim/src tools/devstack/src \
		tools/synthworld/src tools/matcher-eval/src

fmt:
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

bench:
	scripts/bench.sh

demo:
	scripts/demo.sh

backtest-demo:
	scripts/backtest-demo.sh

up:
	scripts/stack.sh up

down:
	scripts/stack.sh down

infra-up:
	infra/up.sh

infra-down:
	infra/down.sh

clean:
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache
