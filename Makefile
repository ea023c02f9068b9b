# London Gift Shop analytics: the two commands of the README, and a few helpers.
# Every target bootstraps .venv first (a no-op when it is current).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export DO_NOT_TRACK := 1

.PHONY: build test test-fast test-dbt111 test-dbt112 slim-ci lint format pytest docs-serve report \
	clean help bootstrap bootstrap-dbt112 system-deps services-deps

help:
	@echo "make build       main job: data, dbt build, docs, report (local target)"
	@echo "make test        the whole test suite: lint + pytest (unit, dbt, end to end)"
	@echo "make test-fast   lint, unit tests, a small build with the dbt unit tests, slim CI"
	@echo "make test-dbt112 dbt-level tests + a small build on dbt-core 1.12 (.venv-dbt112)"
	@echo "make test-dbt111 the same on the default environment (dbt-core 1.11, .venv)"
	@echo "make slim-ci     build + test what changed since the production state (ci target)"
	@echo "make lint        ruff, yamllint, secret scan, sqlfluff, documentation gate"
	@echo "make docs-serve  serve the dbt docs site on http://127.0.0.1:8080"
	@echo "make services-deps  PostgreSQL + JDBC driver for \`lgs metastore\` (apt-get as root)"
	@echo "make clean       remove generated state (.lgs, target, logs)"

bootstrap:
	@bash scripts/bootstrap.sh

system-deps:
	@bash scripts/system-deps.sh

# PostgreSQL + its JDBC driver for the shared metastore (`lgs metastore`, the cluster tests).
services-deps:
	@bash scripts/services-deps.sh

build: bootstrap
	@$(BIN)/lgs build $(ARGS)

test: bootstrap system-deps services-deps lint pytest

# The fast lane of a pull request (scripts/test-fast.sh); `make test` stays the whole suite.
test-fast: bootstrap
	@bash scripts/test-fast.sh

# The dbt-level tests on each supported dbt line (scripts/test-dbt-level.sh,
# docs/DBT_VERSIONS.md): the adapter's and the dbt project's unit tests and a small build
# with the dbt unit tests. dbt-core 1.12 lives in its own environment, .venv-dbt112
# (requirements/lock-dbt112.txt). Not part of `make test`.
bootstrap-dbt112:
	@bash scripts/bootstrap-dbt112.sh

test-dbt112: bootstrap-dbt112
	@bash scripts/test-dbt-level.sh .venv-dbt112

test-dbt111: bootstrap
	@bash scripts/test-dbt-level.sh .venv

# state:modified+ against $$LGS_STATE_DIR/prod-state (or LGS_PROD_STATE), in the schemas of
# LGS_CI_SCHEMA (default ci), deferring unchanged parents to the production tables.
slim-ci: bootstrap
	@$(BIN)/python -m lgs_analytics.devtools.slim_ci $(ARGS)

lint: bootstrap
	@bash scripts/lint.sh

format: bootstrap
	@$(BIN)/ruff format src tests/python python_models benchmarks
	@$(BIN)/ruff check --fix src tests/python python_models benchmarks
	@LGS_STATE_DIR=$(CURDIR)/.lgs-lint $(BIN)/sqlfluff fix models tests analyses

# Two pytest-xdist workers, one test file at a time each: while one test waits (a JVM or a
# service starting, a process ending, a single-threaded step), the other uses the core. The
# files that share a built state folder run on one worker (tests/python/conftest.py).
# PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 2

pytest: bootstrap
	@$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

docs-serve: bootstrap
	@$(BIN)/lgs docs-serve

report: bootstrap
	@$(BIN)/lgs report

clean:
	rm -rf .lgs .lgs-test .lgs-lint .lgs-fast .lgs-dbt111 .lgs-dbt112 target logs
